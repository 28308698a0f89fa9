#!/usr/bin/env bash
# Runs one Apache Kafka broker on 127.0.0.1 for the integration tests: a
# single KRaft node that is both broker and controller, started from jars that
# Maven fetches (deploy/kafka/pom.xml), with no Docker and no Kafka download.
#
#   kafka.sh fetch    copy the Kafka jars into the cache (once per version)
#   kafka.sh start    fetch if needed, format a fresh data dir, start the broker
#                     in the background, wait until it answers a real request,
#                     then print SESSIONREC_BROKERS=127.0.0.1:PORT on stdout
#   kafka.sh stop     stop the broker (TERM, then KILL after 20 s) and remove
#                     its run dir (config, data, logs); fine to run twice
#   kafka.sh status   say whether it runs; exit 0 if it does, 1 if not
#   kafka.sh pause    freeze the broker (SIGSTOP): connections stay open and
#                     nothing answers, as with a broker stuck in a long GC
#   kafka.sh resume   thaw a paused broker (SIGCONT)
#   kafka.sh restart  stop the broker and start it again on the same data
#                     dir (topics, offsets and groups kept), as a rolling
#                     restart does; waits until it answers again
#
# pause, resume and restart are for the fault tests, which run them against
# a broker of their own (its own SESSIONREC_KAFKA_PORT and _RUN), never
# against the one the other tests share.
#
# Only the SESSIONREC_* lines go to stdout (one, SESSIONREC_BROKERS, without
# a secure port); everything else goes to stderr, so
# `env=$(kafka.sh start)` captures just those lines.
#
# Environment (defaults in brackets):
#   SESSIONREC_KAFKA_PORT             client listener [19092]
#   SESSIONREC_KAFKA_CONTROLLER_PORT  KRaft controller listener [PORT+1]
#   SESSIONREC_KAFKA_HOME             jar cache
#                                     [$HOME/.cache/sessionrec/kafka-VERSION]
#   SESSIONREC_KAFKA_RUN              run dir: config, pid, data, logs
#                                     [${TMPDIR:-/tmp}/sessionrec-kafka-PORT]
#   SESSIONREC_KAFKA_TIMEOUT          seconds start waits for the broker [90]
#   SESSIONREC_KAFKA_SECURE_PORT      a SASL_SSL listener too, on this port
#                                     [none]: TLS with a CA made at start,
#                                     SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN
#                                     for one user with a random password;
#                                     start then also prints
#                                     SESSIONREC_SECURE_BROKERS, _KAFKA_TLS_CA
#                                     (the CA's PEM), _KAFKA_SASL_USER and
#                                     _KAFKA_SASL_PASSWORD_FILE
#   JAVA_HOME                         the Java (>= 17) to use [java on PATH]
#
# deploy/README.md says why this Kafka version and how `make test` uses this.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly here pom=$here/pom.xml

die() {
	echo "kafka.sh: $*" >&2
	exit 1
}

say() {
	echo "kafka.sh: $*" >&2
}

# The one place the Kafka version is written down is the POM.
version=$(sed -n 's:.*<kafka\.version>\([^<]*\)</kafka\.version>.*:\1:p' "$pom")
[[ -n $version ]] || die "no <kafka.version> in $pom"
readonly version

readonly port=${SESSIONREC_KAFKA_PORT:-19092}
readonly cport=${SESSIONREC_KAFKA_CONTROLLER_PORT:-$((port + 1))}
readonly timeout_s=${SESSIONREC_KAFKA_TIMEOUT:-90}
readonly sport=${SESSIONREC_KAFKA_SECURE_PORT:-}
for n in "$port" "$cport" "$timeout_s" ${sport:+"$sport"}; do
	[[ $n =~ ^[0-9]+$ ]] || die "not a number: $n (check SESSIONREC_KAFKA_* settings)"
done
[[ $port != "$cport" ]] || die "the client and controller ports are both $port"

if [[ -n ${SESSIONREC_KAFKA_HOME:-} ]]; then
	home=$SESSIONREC_KAFKA_HOME
elif [[ -n ${HOME:-} ]]; then
	home=$HOME/.cache/sessionrec/kafka-$version
else
	die "neither SESSIONREC_KAFKA_HOME nor HOME is set: nowhere to keep the jars"
fi
readonly home lib=$home/lib
readonly run=${SESSIONREC_KAFKA_RUN:-${TMPDIR:-/tmp}/sessionrec-kafka-$port}
readonly pidfile=$run/kafka.pid
# A file only this script writes: stop and start delete a run dir only when it
# holds this, so a SESSIONREC_KAFKA_RUN pointed at a real folder is safe.
readonly marker=$run/.sessionrec-kafka
readonly brokers=127.0.0.1:$port
# The SASL_SSL listener's files: the CA (PEM), the broker's key and chain,
# and the SASL user's password.
readonly tlsdir=$run/tls sasl_user=sessionrec

java=java
if [[ -n ${JAVA_HOME:-} ]]; then
	java=$JAVA_HOME/bin/java
fi
readonly java

# Fails unless $java runs and is Java 17 or newer (Kafka 4 brokers need 17).
need_java() {
	command -v "$java" >/dev/null 2>&1 ||
		die "java not found (looked for '$java'): install a JDK 17 or newer, or set JAVA_HOME"
	local v major
	v=$("$java" -version 2>&1 | sed -n '1s/.*version "\([^"]*\)".*/\1/p')
	# "17.0.15", "21", or the old style "1.8.0_402".
	major=${v%%[.+_-]*}
	if [[ $major == 1 ]]; then
		major=${v#1.}
		major=${major%%[.+_-]*}
	fi
	[[ $major =~ ^[0-9]+$ ]] || die "cannot read the version of $java (it said: $("$java" -version 2>&1 | head -n 1))"
	((major >= 17)) || die "$java is Java $v; Kafka $version needs Java 17 or newer (set JAVA_HOME)"
}

# The POM's checksum, kept beside the jars: a changed POM fetches again.
pom_sum() {
	cksum <"$pom"
}

fetched() {
	[[ -f $lib/.fetched && $(<"$lib/.fetched") == "$(pom_sum)" ]]
}

cmd_fetch() {
	if fetched; then
		say "Kafka $version jars already in $lib"
		return
	fi
	need_java
	command -v mvn >/dev/null 2>&1 ||
		die "mvn not found: install Maven 3 (e.g. apt-get install maven); it fetches the Kafka jars"
	say "fetching Kafka $version jars into $lib"
	mkdir -p "$home"
	# Copy into a fresh folder and move it into place only when complete, so
	# an interrupted fetch never leaves a half-filled lib/ that looks done.
	local tmp
	tmp=$(mktemp -d "$home/lib.XXXXXX")
	# The sed drops the colour codes that Debian's Maven 3.8 prints even in
	# batch mode; pipefail keeps mvn's exit status.
	if ! mvn -B -q -f "$pom" dependency:copy-dependencies \
		-DoutputDirectory="$tmp" -DincludeScope=runtime 2>&1 |
		sed 's/\x1b\[[0-9;]*m//g' >&2; then
		rm -rf "$tmp"
		die "mvn could not fetch the Kafka $version jars (see its output above)"
	fi
	pom_sum >"$tmp/.fetched"
	rm -rf "$lib"
	mv "$tmp" "$lib"
}

# Prints the broker's pid if the pidfile names a live process that is this
# run dir's broker (not some other process that got the pid later).
broker_pid() {
	[[ -f $pidfile ]] || return 1
	local pid
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	ps -ww -o args= -p "$pid" 2>/dev/null | grep -qF -- "kafka.Kafka $run/server.properties" || return 1
	echo "$pid"
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The command that runs a Kafka command-line class: a short-lived JVM, tuned
# to start fast. An array, not a function, so that timeout(1) can run it.
readonly kafka_tool=("$java" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
	-Dlog4j2.configurationFile="$run/tools-log4j2.properties" -cp "$lib/*")

# Removes the run dir if this script made it.
remove_run() {
	if [[ -d $run ]]; then
		[[ -f $marker ]] || die "$run was not made by kafka.sh; not removing it"
		rm -rf "$run"
	fi
}

# Stops the process $1: TERM, up to 20 s for Kafka's controlled shutdown,
# then KILL.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.2
	done
	say "broker (pid $pid) still running 20 s after SIGTERM; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	die "broker (pid $pid) survived SIGKILL"
}

write_config() {
	cat >"$run/server.properties" <<EOF
# Written by deploy/kafka/kafka.sh start; stop removes it with the data.
# One node that is both KRaft controller and broker, on loopback only.
process.roles=broker,controller
node.id=1
# A dynamic (KIP-853) quorum of this one controller: formatted --standalone.
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport${sport:+,SASL_SSL://127.0.0.1:$sport}
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport${sport:+,SASL_SSL://127.0.0.1:$sport}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$run/data

# sessionrec creates its own topics, with the partition counts it wants; a
# topic made by accident (a typo in a test) should fail, not appear.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1

# One broker: the internal topics cannot have more than one replica, and a
# few partitions of __consumer_offsets are plenty; the default 50 makes the
# first group join on a fresh broker wait while they are created.
offsets.topic.num.partitions=4
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tests join groups and want their partitions now, not after the default 3 s.
group.initial.rebalance.delay.ms=0

# No time-based retention. The tests replay datasets with their own event
# times (2015, 2016) as record timestamps; with the default 7 days, the
# retention check (every 5 minutes) deleted those records mid-test, and a
# reader found its next offset gone.
log.retention.ms=-1
EOF
	if [[ -n $sport ]]; then
		local password
		password=$(<"$tlsdir/sasl-password")
		cat >>"$run/server.properties" <<EOF

# The SASL_SSL listener: TLS with the key and chain made at start (PEM),
# SCRAM users created when the storage is formatted, PLAIN from this file.
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$tlsdir/broker.pem
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$sasl_user="$password";
EOF
	fi

	# The broker logs to a file, never to the console of make test.
	cat >"$run/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $run/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
EOF

	# The command-line tools say only what went wrong, on stderr.
	cat >"$run/tools-log4j2.properties" <<EOF
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = err
EOF
}

# Makes the SASL_SSL listener's files: a CA, a key and certificate for
# 127.0.0.1 and localhost signed by it, and a random password.
make_tls() {
	mkdir -p "$tlsdir"
	(
		cd "$tlsdir"
		openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=sessionrec test CA" \
			-keyout ca.key -out ca.pem
		openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key -out broker.csr
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
		openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 7 \
			-extfile san.ext -out broker.crt
		openssl pkcs8 -topk8 -nocrypt -in broker.key -out broker.p8
		cat broker.p8 broker.crt ca.pem >broker.pem
		(umask 077 && openssl rand -hex 16 >sasl-password)
	) >>"$run/format.log" 2>&1 || start_failed "making the TLS files with openssl failed"
}

# Prints what the broker logged, for a start that failed.
show_logs() {
	local f
	for f in "$run/format.log" "$run/console.log" "$run/server.log" "$run/ready.log"; do
		[[ -s $f ]] || continue
		echo "---- last lines of $f" >&2
		tail -n 40 "$f" >&2
	done
}

# Gives up on a start: logs, then stops the broker it launched. The run dir
# stays for a look; stop (or the next start) removes it.
start_failed() {
	say "$*"
	show_logs
	local pid
	if pid=$(broker_pid); then
		stop_pid "$pid"
	fi
	rm -f "$pidfile"
	die "the broker did not start; its files are in $run"
}

cmd_start() {
	local pid
	if pid=$(broker_pid); then
		say "already running (pid $pid, run dir $run)"
		print_env
		return
	fi
	local p
	for p in "$port" "$cport" ${sport:+"$sport"}; do
		if port_open "$p"; then
			die "127.0.0.1:$p is taken by another process; choose other ports with SESSIONREC_KAFKA_PORT"
		fi
	done
	cmd_fetch
	need_java

	# Every start is a fresh cluster: no topics, offsets or groups left over.
	remove_run
	mkdir -p "$run/data"
	: >"$marker"
	local scram=()
	if [[ -n $sport ]]; then
		command -v openssl >/dev/null || die "a secure listener needs openssl"
		make_tls
		local password
		password=$(<"$tlsdir/sasl-password")
		scram=(--add-scram "SCRAM-SHA-512=[name=$sasl_user,password=$password]"
			--add-scram "SCRAM-SHA-256=[name=$sasl_user,password=$password]")
	fi
	write_config

	local t0=$SECONDS cluster_id
	cluster_id=$("${kafka_tool[@]}" kafka.tools.StorageTool random-uuid 2>"$run/format.log" | tail -n 1) ||
		start_failed "kafka.tools.StorageTool random-uuid failed"
	"${kafka_tool[@]}" kafka.tools.StorageTool format --standalone \
		--cluster-id "$cluster_id" --config "$run/server.properties" "${scram[@]}" >>"$run/format.log" 2>&1 ||
		start_failed "kafka.tools.StorageTool format failed"

	launch
	wait_ready "$t0"
}

# Starts the broker process on the run dir's config and data.
launch() {
	# nohup and </dev/null: the broker outlives this script and the terminal,
	# and holds none of the caller's pipes (brokers=$(kafka.sh start) must
	# see end of file when this script exits).
	nohup "$java" -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$run/log4j2.properties" \
		-cp "$lib/*" kafka.Kafka "$run/server.properties" \
		</dev/null >>"$run/console.log" 2>&1 &
	echo $! >"$pidfile"
	say "started Kafka $version (pid $!), waiting up to ${timeout_s}s for 127.0.0.1:$port"
}

# Waits, from the time $1 (in SECONDS) on, until the broker answers, then
# prints the SESSIONREC_BROKERS line.
wait_ready() {
	local t0=$1
	# First the port, cheaply; then a real request through the Admin API.
	# The listener opens before the broker has caught up with the metadata
	# log and been unfenced, and only then does it list topics.
	local deadline=$((t0 + timeout_s))
	until port_open "$port"; do
		broker_pid >/dev/null || start_failed "the broker exited during startup"
		((SECONDS < deadline)) || start_failed "port $port not open after ${timeout_s}s"
		sleep 0.2
	done
	until timeout $((deadline - SECONDS > 1 ? deadline - SECONDS : 1)) \
		"${kafka_tool[@]}" org.apache.kafka.tools.TopicCommand \
		--bootstrap-server "$brokers" --list >/dev/null 2>"$run/ready.log"; do
		broker_pid >/dev/null || start_failed "the broker exited during startup"
		((SECONDS < deadline)) || start_failed "no answer to a topic listing after ${timeout_s}s"
		sleep 1
	done
	rm -f "$run/ready.log"
	if [[ -n $sport ]]; then
		until port_open "$sport"; do
			((SECONDS < deadline)) || start_failed "secure port $sport not open after ${timeout_s}s"
			sleep 0.2
		done
	fi
	say "ready after $((SECONDS - t0))s; log: $run/server.log"
	print_env
}

# Prints the SESSIONREC_* lines a test run exports.
print_env() {
	echo "SESSIONREC_BROKERS=$brokers"
	if [[ -n $sport ]]; then
		echo "SESSIONREC_SECURE_BROKERS=127.0.0.1:$sport"
		echo "SESSIONREC_KAFKA_TLS_CA=$tlsdir/ca.pem"
		echo "SESSIONREC_KAFKA_SASL_USER=$sasl_user"
		echo "SESSIONREC_KAFKA_SASL_PASSWORD_FILE=$tlsdir/sasl-password"
	fi
}

cmd_pause() {
	local pid
	pid=$(broker_pid) || die "not running (run dir $run)"
	kill -STOP "$pid"
	say "paused the broker (pid $pid)"
}

cmd_resume() {
	local pid
	pid=$(broker_pid) || die "not running (run dir $run)"
	kill -CONT "$pid"
	say "resumed the broker (pid $pid)"
}

cmd_restart() {
	local pid
	[[ -f $marker ]] || die "no broker was started in $run: nothing to restart"
	if pid=$(broker_pid); then
		kill -CONT "$pid" 2>/dev/null || true # a paused broker cannot stop
		say "stopping the broker (pid $pid) for a restart"
		stop_pid "$pid"
	fi
	need_java
	local t0=$SECONDS
	launch
	wait_ready "$t0"
}

cmd_stop() {
	local pid
	if pid=$(broker_pid); then
		say "stopping the broker (pid $pid)"
		kill -CONT "$pid" 2>/dev/null || true # a paused broker cannot stop
		stop_pid "$pid"
	else
		say "not running"
	fi
	remove_run
}

cmd_status() {
	local pid
	if ! pid=$(broker_pid); then
		say "not running (run dir $run)"
		return 1
	fi
	if ! port_open "$port"; then
		say "pid $pid is alive but 127.0.0.1:$port does not accept connections (starting, or broken: see $run/server.log)"
		return 1
	fi
	say "running: Kafka $version, pid $pid, log $run/server.log"
	print_env
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
}

case ${1:-} in
fetch) cmd_fetch ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
pause) cmd_pause ;;
resume) cmd_resume ;;
restart) cmd_restart ;;
-h | --help | help)
	usage
	;;
*)
	usage
	exit 2
	;;
esac
