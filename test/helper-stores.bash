# SPDX-License-Identifier: ISC
# helper-stores.bash - the stores of test/stores.bats (and make
# bench-stores): Mosquitto, InfluxDB 1.x and PostgreSQL 15 from Debian's
# packages, each started on loopback (PostgreSQL: a Unix socket only) as
# an unprivileged process in a temporary directory of its own, stopped and
# started again by the tests, and stopped for good by stores_down.
#
# Running as root (CI), the servers run as nobody (setpriv), since
# PostgreSQL refuses root and a test server has no business with it.
# A missing server skips the test, except in CI (CI=true), where it fails.
# The functions report through fail (bats-support); a caller outside bats
# defines its own.

# The directories and servers of this test, for stores_down.
STORE_DIRS=()
PG_DIRS=()

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# need_server NAME PROGRAM: skip (fail in CI) unless PROGRAM is there.
need_server() {
	command -v "$2" >/dev/null 2>&1 && return 0
	if [ "${CI:-}" = true ]; then
		fail "$1: $2 is missing, and CI must test every store"
	fi
	skip "$1 is not installed ($2)"
}

# as_server COMMAND...: runs COMMAND as the server user: nobody when this
# is root, else the caller; in /, since nobody cannot enter the test's
# directory.
as_server() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && exec setpriv --reuid=nobody --regid=nogroup \
		    --clear-groups -- "$@")
	else
		(cd / && exec "$@")
	fi
}

# store_dir: a new directory the server user owns, in STORE_DIR.  It is
# under /tmp, which nobody can reach, unlike the test's own directory.
store_dir() {
	STORE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dmu-store.XXXXXX") ||
	    fail "store_dir: mktemp failed"
	STORE_DIRS+=("$STORE_DIR")
	if [ "$(id -u)" -eq 0 ]; then
		chown nobody:nogroup "$STORE_DIR" || fail "store_dir: chown"
	fi
	chmod 755 "$STORE_DIR"
}

# server_exec COMMAND...: as_server, in place of the calling (background)
# shell, so that bg's process id is the server's.
server_exec() {
	cd / || return 1
	if [ "$(id -u)" -eq 0 ]; then
		exec setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
	fi
	exec "$@"
}

# stores_down: stops every server of the test and removes its directory.
# The servers started with bg end with stop_bg; PostgreSQL's postmaster is
# a daemon, so pg_ctl stops it.
stores_down() {
	local d
	mqtt_stop
	influx_stop
	for d in "${PG_DIRS[@]}"; do
		[ -f "$d/data/postmaster.pid" ] &&
		    as_server "$PG_BIN/pg_ctl" -D "$d/data" -m immediate -w \
		    stop >/dev/null 2>&1
	done
	for d in "${STORE_DIRS[@]}"; do
		rm -rf "$d"
	done
	PG_DIRS=()
	STORE_DIRS=()
}

# stop_pid PID: TERM to a server started with bg, and its exit.
stop_pid() {
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || return 0
	exit_wait "$1" 30 || { kill -9 "$1" 2>/dev/null; wait "$1"; }
	return 0
}

# ---- MQTT: mosquitto ----

# mqtt_up [CONFIG-LINE...]: a Mosquitto broker with persistence (so that
# queued messages outlive a restart), anonymous unless a line says
# otherwise; MQTT_PORT, MQTT_DIR.  mqtt_start starts it again.
mqtt_up() {
	need_server MQTT mosquitto
	need_server MQTT mosquitto_pub
	store_dir
	MQTT_DIR=$STORE_DIR
	MQTT_PORT=$(free_port)
	{
		printf '%s\n' "listener $MQTT_PORT 127.0.0.1" \
		    "persistence true" "persistence_location $MQTT_DIR/" \
		    "log_dest file $MQTT_DIR/mosquitto.log" \
		    "max_queued_messages 0" \
		    "log_type error" "log_type warning" "log_type notice" \
		    "log_type information" "log_type subscribe"
		if [ $# -gt 0 ]; then
			printf '%s\n' "$@"
		else
			echo "allow_anonymous true"
		fi
	} >"$MQTT_DIR/mosquitto.conf"
	mqtt_start
	export DMU_MQTT_OPTS="-h 127.0.0.1 -p $MQTT_PORT"
}

mqtt_start() {
	bg "$MQTT_DIR/out" "$MQTT_DIR/err" server_exec mosquitto \
	    -c "$MQTT_DIR/mosquitto.conf"
	MQTT_PID=$BG_PID
	wait_until 10 listening "$MQTT_PORT" ||
	    fail "mosquitto does not listen: $(cat "$MQTT_DIR/err" "$MQTT_DIR/mosquitto.log")"
}

# mqtt_stop: the broker ends as on a shutdown (and saves its queues).
mqtt_stop() {
	stop_pid "${MQTT_PID:-}"
	MQTT_PID=
}

# mqtt_sub FILE TOPIC [OPTION...]: a subscriber with a persistent session (QoS 1,
# client id dmu-test-sub), which reconnects after a broker restart and
# gets what was queued for it meanwhile; one payload a line in FILE.
# Returns once the broker has its subscription.
mqtt_sub() {
	bg "$1" "$1.err" mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 \
	    -c -i dmu-test-sub -t "$2" "${@:3}"
	MQTT_SUB_PID=$BG_PID
	wait_until 10 file_has "$MQTT_DIR/mosquitto.log" 'dmu-test-sub 1 ' ||
	    fail "mqtt_sub: the subscriber did not connect"
}

# ---- InfluxDB 1.x ----

# influx_up: influxd with its data in a directory of its own, HTTP (and
# the RPC port for backups) on loopback, nothing reported, no internal
# monitoring; a database "dmu".  INFLUX_URL, INFLUX_DIR.
influx_up() {
	need_server InfluxDB influxd
	store_dir
	INFLUX_DIR=$STORE_DIR
	INFLUX_PORT=$(free_port)
	cat >"$INFLUX_DIR/influxdb.conf" <<-CONF
	reporting-disabled = true
	bind-address = "127.0.0.1:$(free_port)"
	[meta]
	  dir = "$INFLUX_DIR/meta"
	[data]
	  dir = "$INFLUX_DIR/data"
	  wal-dir = "$INFLUX_DIR/wal"
	  query-log-enabled = false
	[http]
	  bind-address = "127.0.0.1:$INFLUX_PORT"
	  log-enabled = false
	[monitor]
	  store-enabled = false
	[continuous_queries]
	  enabled = false
	CONF
	INFLUX_URL=http://127.0.0.1:$INFLUX_PORT
	influx_start
	influx_q "CREATE DATABASE dmu" >/dev/null
	export DMU_INFLUX_URL="$INFLUX_URL/write?db=dmu&precision=ns"
}

influx_start() {
	bg "$INFLUX_DIR/out" "$INFLUX_DIR/err" server_exec influxd run \
	    -config "$INFLUX_DIR/influxdb.conf"
	INFLUX_PID=$BG_PID
	wait_until 30 curl -sf -o /dev/null "$INFLUX_URL/ping" ||
	    fail "influxd does not answer: $(tail -n 5 "$INFLUX_DIR/err")"
}

influx_stop() {
	stop_pid "${INFLUX_PID:-}"
	INFLUX_PID=
}

# influx_q QUERY: the JSON answer of one InfluxQL statement on "dmu".
influx_q() {
	curl -sS -f -XPOST "$INFLUX_URL/query" --data-urlencode "db=dmu" \
	    --data-urlencode "q=$1" || fail "influx_q '$1' failed"
}

# influx_count [WHERE]: how many points of dmu (each has its serial).
influx_count() {
	influx_q "SELECT count(serial) FROM dmu ${1:-}" |
	    jq '.results[0].series[0].values[0][1] // 0'
}

# ---- PostgreSQL 15 ----

# pg_up: a cluster initialised in a directory of its own (trust, user
# dmu), listening on a Unix socket there and on no TCP address, with the
# table of share/sinks/dmu-pg.sql.  Exports PGHOST, PGPORT, PGUSER,
# PGDATABASE for psql and dmu-sink-pg.
pg_up() {
	need_server PostgreSQL "$PG_BIN/initdb"
	need_server PostgreSQL psql
	store_dir
	PG_DIR=$STORE_DIR
	PG_DIRS+=("$PG_DIR")
	as_server "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U dmu \
	    --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
	    fail "initdb failed: $(tail -n 5 "$PG_DIR/initdb.log")"
	printf '%s\n' "listen_addresses = ''" \
	    "unix_socket_directories = '$PG_DIR'" >>"$PG_DIR/data/postgresql.conf"
	export PGHOST=$PG_DIR PGPORT=$(free_port) PGUSER=dmu PGDATABASE=postgres
	pg_start
	psql -X -q -v ON_ERROR_STOP=1 -f "$DMU_REPO/share/sinks/dmu-pg.sql" \
	    >/dev/null || fail "pg_up: dmu-pg.sql failed"
}

pg_start() {
	as_server "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
	    -o "-p $PGPORT" start >/dev/null ||
	    fail "pg_ctl start failed: $(tail -n 5 "$PG_DIR/log")"
}

# pg_stop: a fast shutdown (sessions ended, no recovery needed).
pg_stop() {
	as_server "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop \
	    >/dev/null || fail "pg_ctl stop failed"
}

# pg_q SQL: one value or row per line, unaligned.
pg_q() {
	psql -X -q -At -v ON_ERROR_STOP=1 -c "$1" || fail "pg_q '$1' failed"
}
