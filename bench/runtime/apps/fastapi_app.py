"""The benchmark's echo handler as a FastAPI route (`uvicorn fastapi_app:app`)."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class EchoRequest(BaseModel):
    """The request body: {"text": str}."""

    text: str


@app.post("/echo")
async def echo(request: EchoRequest) -> str:
    """The trivial handler every contender serves."""
    return request.text
