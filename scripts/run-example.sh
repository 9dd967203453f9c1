#!/usr/bin/env bash
# Starts a kumo host on the defaults, deploys examples/functions/hello with
# the aws CLI, invokes it, and leaves the host running in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR="${KUMO_DATA_DIR:-/var/lib/kumo}"
LISTEN="${KUMO_LISTEN:-127.0.0.1:9001}"
work="$(mktemp -d)"
trap 'rm -rf "$work"; [[ -n "${pid:-}" ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true' EXIT

echo "==> building the example function"
CGO_ENABLED=0 GOOS=linux go build -tags lambda.norpc -trimpath -o "$work/bootstrap" ./examples/functions/hello
(cd "$work" && zip -q hello.zip bootstrap)

echo "==> starting kumo server (data dir $DATA_DIR, listening on $LISTEN)"
./bin/kumo server --data-dir "$DATA_DIR" --listen "$LISTEN" &
pid=$!
for _ in $(seq 100); do
  curl -fsS "http://$LISTEN/kumo/v1/health" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "kumo server exited" >&2; exit 1; }
  sleep 0.1
done

export AWS_SHARED_CREDENTIALS_FILE="$DATA_DIR/credentials" AWS_PROFILE=kumo
export AWS_ENDPOINT_URL_LAMBDA="http://$LISTEN" AWS_REGION=local AWS_DEFAULT_REGION=local AWS_MAX_ATTEMPTS=1

echo "==> creating function hello"
aws lambda delete-function --function-name hello >/dev/null 2>&1 || true
aws lambda create-function --function-name hello --runtime provided.al2023 \
  --handler bootstrap --role arn:aws:iam::000000000000:role/lambda \
  --zip-file "fileb://$work/hello.zip" \
  --query '{FunctionArn: FunctionArn, State: State, CodeSha256: CodeSha256}'

echo "==> invoking it"
aws lambda invoke --function-name hello --payload '{"name":"kumo"}' "$work/out.json" >/dev/null
cat "$work/out.json"; echo

cat <<MSG

kumo is running with the function 'hello'. In another shell:

  export AWS_SHARED_CREDENTIALS_FILE=$DATA_DIR/credentials AWS_PROFILE=kumo
  export AWS_ENDPOINT_URL_LAMBDA=http://$LISTEN AWS_REGION=local AWS_DEFAULT_REGION=local
  aws lambda list-functions
  aws lambda invoke --function-name hello --payload '{"name":"you"}' --log-type Tail out.json
  ./bin/kumo invoke hello --payload '{"name":"you"}' --data-dir $DATA_DIR
  ./bin/kumo logs hello --follow --data-dir $DATA_DIR

Press Ctrl-C to stop the server.
MSG
wait "$pid"
