-- SPDX-License-Identifier: ISC
-- dmu-pg.sql - the table dmu-sink-pg writes to (psql -f dmu-pg.sql).
-- One row per report, keyed on the report's identity (dmu(7)): the
-- device, the serial and the timestamp, where a missing timestamp is one
-- value of its own (NULLS NOT DISTINCT, PostgreSQL 15).  A report stored
-- again is a no-op; two reports of one device never share a row, also
-- when the device restarted and counts serials from 1 again.
CREATE TABLE IF NOT EXISTS dmu_report (
	device	text NOT NULL,
	serial	bigint NOT NULL,
	ts	timestamptz,
	content	text NOT NULL,
	vals	jsonb NOT NULL,		-- the content's KEY=VALUE pairs
	stored	timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT dmu_report_identity UNIQUE NULLS NOT DISTINCT
	    (device, serial, ts)
);
-- What a dashboard asks most: one device over time.
CREATE INDEX IF NOT EXISTS dmu_report_device_ts ON dmu_report (device, ts);
