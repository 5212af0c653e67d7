-- A state.db written by crosscloud's schema v1 (sqlite3 .dump); frozen: do not regenerate.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE schema_version (
	id INTEGER NOT NULL, 
	version INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO schema_version VALUES(1,1);
CREATE TABLE deployments (
	name VARCHAR(253) NOT NULL, 
	manifest_json TEXT NOT NULL, 
	manifest_hash VARCHAR(128) NOT NULL, 
	version INTEGER NOT NULL, 
	created_at DOUBLE NOT NULL, 
	updated_at DOUBLE NOT NULL, 
	PRIMARY KEY (name)
);
INSERT INTO deployments VALUES('shop','{"apiVersion": "crosscloud.dev/v1", "metadata": {"name": "shop"}}','sha256:0a1b',3,1700000000.0,1700000500.0);
CREATE TABLE replicas (
	id VARCHAR(128) NOT NULL, 
	deployment VARCHAR(253) NOT NULL, 
	service VARCHAR(253) NOT NULL, 
	placement VARCHAR(253) NOT NULL, 
	version INTEGER NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	data JSON NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO replicas VALUES('shop-api-a-1','shop','api','local/region-a',3,'Ready','{"pid": 4242, "host": "127.0.0.1", "port": 8123, "restarts": 1, "started_at": 1700000400.0, "process_start_time": 987654}');
CREATE TABLE endpoints (
	deployment VARCHAR(253) NOT NULL, 
	service VARCHAR(253) NOT NULL, 
	placement VARCHAR(253) NOT NULL, 
	url VARCHAR(2048) NOT NULL, 
	replica_id VARCHAR(128), 
	PRIMARY KEY (deployment, service, placement, url)
);
INSERT INTO endpoints VALUES('shop','api','local/region-a','http://127.0.0.1:8123','shop-api-a-1');
CREATE TABLE events (
	id INTEGER NOT NULL, 
	ts DOUBLE NOT NULL, 
	deployment VARCHAR(253) NOT NULL, 
	kind VARCHAR(64) NOT NULL, 
	message TEXT NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO events VALUES(1,1700000400.0,'shop','ReplicaReady','shop-api-a-1 is ready');
CREATE INDEX ix_replicas_deployment ON replicas (deployment);
COMMIT;
