"""The command line: parse -> call -> render; errors rendered once, as one line."""
