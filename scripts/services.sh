#!/usr/bin/env bash
# Makes sure the services the tests talk to answer on loopback, starting any that does not.
# Redis 127.0.0.1:6379 and RabbitMQ 127.0.0.1:5672 (guest/guest), as this machine kind provides them.
set -u

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name port seconds
  for _ in $(seq 1 "$3"); do answers "$2" && { echo "$1 answers on 127.0.0.1:$2"; return 0; }; sleep 1; done
  echo "$1 did not answer on 127.0.0.1:$2 within $3 s" >&2; return 1
}

if ! answers 6379; then
  echo "starting Redis"
  command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
wait_for Redis 6379 30 || exit 1

if ! answers 5672; then
  command -v rabbitmq-server >/dev/null || { apt-get update -qq && apt-get install -y -qq rabbitmq-server; }
  if rabbitmqctl -q ping >/dev/null 2>&1; then
    # The Erlang node runs but the broker app is stopped (a test that restarts it was cut short).
    echo "starting the RabbitMQ app"
    rabbitmqctl -q start_app
  else
    echo "starting RabbitMQ"
    rabbitmq-server -detached
  fi
fi
wait_for RabbitMQ 5672 120 || exit 1
