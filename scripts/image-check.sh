#!/usr/bin/env bash
# scripts/image-check.sh: builds the container image from the Dockerfile and checks it end to end on
# a machine where Docker Hub is not reachable. Run as root; not part of `npm test`.
#
#   sudo bash scripts/image-check.sh 2>&1 | tee /tmp/image-check.log
#
# All of it lives under one temp folder, removed at the end together with the containers, the
# images and the private dockerd (also on failure or Ctrl-C):
#   1. installs what it needs from Debian if missing (docker.io, debootstrap, ca-certificates, curl);
#   2. builds dist/kvs.mjs on the host (npm run build) and stages a copy of the build context;
#   3. starts a private dockerd (own data root, exec root, pid file and socket; --bridge=none, no
#      iptables), so no other Docker on the machine is touched;
#   4. makes a local Node 20 base image: debootstrap --variant=minbase from the Debian mirror that apt
#      uses here, plus this machine's node binary and CA bundle, `docker import`ed;
#   5. builds asg3img from the Dockerfile (BuildKit) with that base as BUILD_IMAGE and RUNTIME_IMAGE
#      and BUNDLE_SOURCE=context: the bundle of step 2, so the build needs no network;
#   6. runs alice, bob and carol from it with --network host on 127.0.0.2-4 and checks them with curl:
#      image settings, non-root, PUT/GET with causal metadata across replicas, delete, bad input,
#      JSON logs, a clean `docker stop` (exit code 0, within 3 s), the others dropping the stopped
#      replica from their views, availability meanwhile, the stopped replica rejoining on restart;
#   7. builds the Dockerfile's default path too (BUNDLE_SOURCE=build: npm ci and npm run build in the
#      build stage, classic builder, --network host) on a base that adds this machine's npm, when the
#      npm registry answers from inside a container, and smoke-tests that image;
#   8. prints a PASS/FAIL summary with timings; exits 0 only when no check failed.
#
# Settings (environment):
#   KVS_PORT=8090        port of the three replicas (on 127.0.0.2, .3, .4; .5 for the smoke test)
#   FULL_BUILD=auto      step 7: auto = skip it (SKIP, not FAIL) when the registry does not answer
#                        from a container; yes = a registry that does not answer is a FAIL; no = skip
#   BASE_SUITE=bookworm  Debian suite of the local base (must match the glibc this node was built for)
#   STOP_MS_MAX=3000     how long `docker stop` may take (docker's own grace period is 10 s, then SIGKILL)
#   DEBIAN_MIRROR=       override the mirror found in /etc/apt/sources.list(.d)
# All traffic stays on loopback (and the Debian mirror / npm registry that apt and npm use here).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${KVS_PORT:-8090}
FULL_BUILD=${FULL_BUILD:-auto}
SUITE=${BASE_SUITE:-bookworm}
STOP_MS_MAX=${STOP_MS_MAX:-3000}
IMAGE=asg3img
FULL_IMAGE=asg3img-full
BASE_IMAGE=kvs-imagecheck/node20:$SUITE
NPM_BASE_IMAGE=kvs-imagecheck/node20-npm:$SUITE
NAMES=(alice bob carol)
declare -A ADDR=([alice]=127.0.0.2:$PORT [bob]=127.0.0.3:$PORT [carol]=127.0.0.4:$PORT)
VIEW="${ADDR[alice]},${ADDR[bob]},${ADDR[carol]}"
SMOKE_ADDR=127.0.0.5:$PORT

WORK=
DOCKERD_PID=
BG_PID=
DOCKER_CLI=
CONTAINERS=()
IMAGES=()
RESULTS=()
PHASES=()
FAILED=0
PASSED=0
SKIPPED=0

now_ms() { date +%s%3N; }
T0=$(now_ms)
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }
say() { printf '[%s +%6ss] %s\n' "$(date +%H:%M:%S)" "$(secs $(( $(now_ms) - T0 )))" "$*"; }
die() { say "ERROR: $*"; exit 1; }

PHASE_NAME=
PHASE_T=0
phase() { # phase NAME: ends the previous phase (recording its time) and starts NAME
  local t; t=$(now_ms)
  if [ -n "$PHASE_NAME" ]; then PHASES+=("$(printf '%-58s %7ss' "$PHASE_NAME" "$(secs $(( t - PHASE_T )))")"); fi
  PHASE_NAME=$1
  PHASE_T=$t
  if [ -n "$1" ]; then echo; say "=== $1"; fi
}

DK=()  # the docker client, talking to the private dockerd only (set once WORK exists)
dk() { "${DK[@]}" "$@"; }

# ------------------------------------------------------------------------------------ checks

fail() { echo "$*"; return 1; }
want_eq() { [ "$1" = "$2" ] || fail "$3: expected $2, got $1"; }

# js EXPR JSON: prints EXPR, a JavaScript expression over the parsed JSON `o` (strings raw, others as JSON).
js() {
  node -e '
    const o = JSON.parse(process.argv[1]);
    const v = new Function("o", "return (" + process.argv[2] + ")")(o);
    process.stdout.write(typeof v === "string" ? v : v === undefined ? "undefined" : JSON.stringify(v));
  ' "$2" "$1"
}

# http METHOD HOST:PORT PATH [BODY] [curl args...]: sets H_STATUS, H_TYPE, H_BODY (status 000: no answer).
http() {
  local method=$1 url="http://$2$3" body=${4-} meta
  shift 3; if [ $# -gt 0 ]; then shift; fi
  local data=()
  if [ -n "$body" ]; then data=(--data-binary "$body"); fi
  if meta=$(curl -sS -m 10 -X "$method" -o "$WORK/http.body" -w '%{http_code} %{content_type}' \
      -H 'Content-Type: application/json' "${data[@]}" "$@" "$url" 2>"$WORK/http.err"); then
    H_STATUS=${meta%% *}; H_TYPE=${meta#* }; H_BODY=$(cat "$WORK/http.body")
  else
    H_STATUS=000; H_TYPE=; H_BODY=$(cat "$WORK/http.err")
  fi
  echo "  $method $url ${body:+$body }-> $H_STATUS ${H_BODY:0:200}"
}

# run_check NAME FUNCTION [ARGS...]: runs the function in this shell (so it can keep causal metadata
# for later checks) and records PASS or FAIL with the last line it printed.
run_check() {
  local name=$1 out="$WORK/check.out" started detail rc=0
  shift
  started=$(now_ms)
  "$@" >"$out" 2>&1 || rc=$?
  sed 's/^/    /' "$out"
  detail=$(grep -v '^  ' "$out" | tail -n 1 || true)
  local took; took=$(secs $(( $(now_ms) - started )))
  if [ "$rc" -eq 0 ]; then
    PASSED=$((PASSED + 1)); RESULTS+=("PASS  $name  [${took}s]${detail:+  $detail}"); say "PASS  $name"
  else
    FAILED=$((FAILED + 1)); RESULTS+=("FAIL  $name  [${took}s]${detail:+  $detail}"); say "FAIL  $name: $detail"
  fi
  return 0
}
skip_check() { SKIPPED=$((SKIPPED + 1)); RESULTS+=("SKIP  $1  ($2)"); say "SKIP  $1: $2"; }

# ------------------------------------------------------------------------------------ cleanup

summary() {
  echo
  echo "==================================================================== image-check summary"
  for r in "${RESULTS[@]}"; do echo "$r"; done
  echo "--------------------------------------------------------------------------- timings"
  for p in "${PHASES[@]}"; do echo "$p"; done
  printf '%-58s %7ss\n' "total before cleanup" "$(secs $(( $(now_ms) - T0 )))"
  echo "==========================================================================================="
  say "$PASSED passed, $FAILED failed, $SKIPPED skipped"
}

cleanup() {
  local rc=$? t
  set +e
  trap - EXIT INT TERM
  phase ""
  summary
  t=$(now_ms)
  echo; say "=== cleanup"
  if [ -n "$BG_PID" ] && kill -0 "$BG_PID" 2>/dev/null; then
    kill -TERM "$BG_PID"; wait "$BG_PID" 2>/dev/null; say "stopped debootstrap"
  fi
  if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    for c in "${CONTAINERS[@]}"; do dk rm -f "$c" >/dev/null 2>&1 && say "removed container $c"; done
    for i in "${IMAGES[@]}"; do dk rmi -f "$i" >/dev/null 2>&1 && say "removed image $i"; done
    dk system prune -a -f >/dev/null 2>&1
    dk builder prune -a -f >/dev/null 2>&1
    kill -TERM "$DOCKERD_PID"
    for _ in $(seq 1 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$DOCKERD_PID" 2>/dev/null; then say "dockerd did not stop; killing it"; kill -KILL "$DOCKERD_PID"; fi
    wait "$DOCKERD_PID" 2>/dev/null
    say "stopped the private dockerd (pid $DOCKERD_PID)"
  fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    # dockerd's managed containerd, if it outlived dockerd
    local cpid; cpid=$(cat "$WORK/exec/containerd/containerd.pid" 2>/dev/null)
    if [ -n "$cpid" ] && kill -0 "$cpid" 2>/dev/null && [ "$(cat /proc/"$cpid"/comm 2>/dev/null)" = containerd ]; then
      kill -TERM "$cpid"; sleep 1; kill -KILL "$cpid" 2>/dev/null
    fi
    # whatever is still mounted under the temp folder (debootstrap's /proc, dockerd's netns), deepest first
    local m
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done \
      < <(findmnt -rn -o TARGET | grep -F "$WORK" | sort -r)
    rm -rf --one-file-system "$WORK"
    say "removed $WORK"
  fi
  say "cleanup took $(secs $(( $(now_ms) - t )))s"
  say "total $(secs $(( $(now_ms) - T0 )))s"
  if [ "$rc" -eq 0 ]; then say "image-check: PASS"; else say "image-check: FAIL (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------------------------ 1. tools

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages, starts dockerd and runs debootstrap)"
phase "install tools (if missing)"
need=()
command -v dockerd >/dev/null || need+=(docker.io)
[ -x /usr/bin/docker ] || command -v docker >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -s /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  say "installing from Debian: ${need[*]}"
  # No service may start during the install (a system dockerd is not what we want).
  own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own_policy=1
  fi
  # (waits for another apt or dpkg that holds the lock instead of failing at once)
  apt-get -o DPkg::Lock::Timeout=600 update -q
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}"
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
else
  say "dockerd, docker, debootstrap, curl and the CA bundle are already here"
fi
# The docker client of Debian's docker.io matches its dockerd; another client on PATH may not.
if [ -x /usr/bin/docker ]; then DOCKER_CLI=/usr/bin/docker; else DOCKER_CLI=$(command -v docker); fi
NODE_BIN=$(command -v node) || die "node is not on PATH"
NODE_BIN=$(readlink -f "$NODE_BIN")
NODE_VERSION=$("$NODE_BIN" --version)
case "$NODE_VERSION" in v20.*) ;; *) die "this machine's node is $NODE_VERSION, not Node 20";; esac
say "dockerd $(dockerd --version | sed 's/^Docker version //'), client $DOCKER_CLI, node $NODE_VERSION ($NODE_BIN)"

WORK=$(mktemp -d /tmp/kvs-imagecheck.XXXXXX)
mkdir -p "$WORK/docker-config" "$WORK/data" "$WORK/exec"
DK=(env DOCKER_CONFIG="$WORK/docker-config" "$DOCKER_CLI" -H "unix://$WORK/docker.sock")
say "work folder $WORK"

# ------------------------------------------------------------------------------------ 2. bundle

phase "build dist/kvs.mjs on the host"
cd "$REPO"
if [ ! -d node_modules ]; then say "no node_modules: npm ci"; npm ci --no-audit --no-fund; fi
npm run build
# A private copy of the build context, so edits in the work tree during the run change nothing.
mkdir -p "$WORK/context"
tar -C "$REPO" --exclude=./node_modules --exclude=./.git -cf - . | tar -C "$WORK/context" -xf -
BUNDLE_SHA=$(sha256sum "$WORK/context/dist/kvs.mjs" | cut -d' ' -f1)
say "bundle $(stat -c %s "$WORK/context/dist/kvs.mjs") bytes, sha256 $BUNDLE_SHA"

# ------------------------------------------------------------------------------------ 3. dockerd

phase "start a private dockerd"
# Its own containerd namespaces too, in case it finds and uses a system containerd.
dockerd --data-root "$WORK/data" --exec-root "$WORK/exec" --pidfile "$WORK/dockerd.pid" \
  -H "unix://$WORK/docker.sock" --bridge=none --iptables=false --ip6tables=false \
  --containerd-namespace kvs-imagecheck --containerd-plugins-namespace kvs-imagecheck-plugins \
  >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 1 120); do
  if dk version >/dev/null 2>&1; then break; fi
  kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -n 30 "$WORK/dockerd.log"; die "dockerd exited"; }
  sleep 0.5
done
dk version >/dev/null 2>&1 || { tail -n 30 "$WORK/dockerd.log"; die "dockerd did not answer within 60 s"; }
say "dockerd $(dk version --format '{{.Server.Version}}') up (pid $DOCKERD_PID, storage $(dk info --format '{{.Driver}}'))"

# ------------------------------------------------------------------------------------ 4. base image

phase "debootstrap a minbase $SUITE"
mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  # apt's own reading of /etc/apt/sources.list and sources.list.d (both formats)
  mirror=$(apt-get indextargets --format '$(SITE) $(RELEASE) $(CODENAME) $(TARGET_OF)' 'Identifier: Packages' 2>/dev/null \
    | awk -v s="$SUITE" '($2 == s || $3 == s) && $4 == "deb" { print $1; exit }')
fi
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk -v s="$SUITE" '$1 == "deb" { sub(/\[[^]]*\] */, ""); if ($3 == s) { print $2; exit } }')
fi
[ -n "$mirror" ] || die "no Debian mirror for $SUITE in /etc/apt/sources.list(.d) (run apt-get update, or set DEBIAN_MIRROR)"
say "mirror $mirror (from apt's sources)"
ROOTFS="$WORK/rootfs"
# In the background with `wait`, so that a TERM or INT to this script is acted on at once.
timeout 1200 debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$mirror" >"$WORK/debootstrap.log" 2>&1 &
BG_PID=$!
if ! wait "$BG_PID"; then BG_PID=; tail -n 30 "$WORK/debootstrap.log"; die "debootstrap failed"; fi
BG_PID=
tail -n 1 "$WORK/debootstrap.log"
# debootstrap may leave the target's /proc mounted
while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done < <(findmnt -rn -o TARGET | grep -F "$ROOTFS" | sort -r)

phase "make the local Node 20 base images"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
install -m 0755 "$NODE_BIN" "$ROOTFS/usr/local/bin/node"
mkdir -p "$ROOTFS/etc/ssl/certs"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
say "node in the base: $(chroot "$ROOTFS" /usr/local/bin/node --version)"
tar --one-file-system --numeric-owner -C "$ROOTFS" -cf - . | dk import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["node"]' \
  --message "debootstrap --variant=minbase $SUITE + node $NODE_VERSION + CA bundle" \
  - "$BASE_IMAGE" >/dev/null
IMAGES+=("$BASE_IMAGE")
rm -rf "$ROOTFS"
say "imported $BASE_IMAGE ($(dk image inspect --format '{{.Size}}' "$BASE_IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"

# The same plus this machine's npm, for the Dockerfile's default path (step 7).
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
[ -f "$NPM_DIR/bin/npm-cli.js" ] || die "cannot find npm's folder (got $NPM_DIR)"
mkdir -p "$WORK/npm-base"
cp -a "$NPM_DIR" "$WORK/npm-base/npm"
cat >"$WORK/npm-base/Dockerfile" <<'EOF'
ARG BASE
FROM ${BASE}
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && npm --version
EOF
DOCKER_BUILDKIT=0 dk build -q --network host --build-arg BASE="$BASE_IMAGE" -t "$NPM_BASE_IMAGE" "$WORK/npm-base" >/dev/null
IMAGES+=("$NPM_BASE_IMAGE")
say "built $NPM_BASE_IMAGE (npm $(dk run --rm --network none "$NPM_BASE_IMAGE" npm --version))"

# ------------------------------------------------------------------------------------ 5. the image

phase "docker build $IMAGE (BuildKit, BUNDLE_SOURCE=context)"
IMAGES+=("$IMAGE")
build_ok=1
DOCKER_BUILDKIT=1 dk build --progress=plain --network host \
  --build-arg BUILD_IMAGE="$BASE_IMAGE" --build-arg RUNTIME_IMAGE="$BASE_IMAGE" \
  --build-arg BUNDLE_SOURCE=context -t "$IMAGE" "$WORK/context" 2>&1 | tee "$WORK/build.log" || build_ok=0

phase "checks on the image and a three-replica cluster"
check_build() {
  [ "$build_ok" -eq 1 ] || fail "docker build failed (see above)"
  echo "built $(dk image inspect --format '{{.Id}}' "$IMAGE" | cut -c1-19)"
}
run_check "docker build --build-arg BUILD_IMAGE/RUNTIME_IMAGE=<local base> -t $IMAGE" check_build
if [ "$build_ok" -ne 1 ]; then die "no image to check"; fi

check_image_config() {
  local cfg; cfg=$(dk image inspect --format '{{json .Config}}' "$IMAGE")
  want_eq "$(js 'o.User' "$cfg")" "10001:10001" "USER" || return 1
  want_eq "$(js 'Object.keys(o.ExposedPorts || {}).join(",")' "$cfg")" "8090/tcp" "EXPOSE" || return 1
  want_eq "$(js 'o.StopSignal' "$cfg")" "SIGTERM" "STOPSIGNAL" || return 1
  want_eq "$(js 'o.Cmd' "$cfg")" '["node","/app/kvs.mjs"]' "CMD" || return 1
  echo "USER 10001:10001, EXPOSE 8090/tcp, STOPSIGNAL SIGTERM, CMD [node, /app/kvs.mjs]"
}
run_check "image settings" check_image_config

check_image_contents() {
  local listing sha
  listing=$(dk run --rm --network none "$IMAGE" node -e 'console.log(JSON.stringify(require("fs").readdirSync("/app")))') || return 1
  want_eq "$listing" '["kvs.mjs"]' "/app holds" || return 1
  sha=$(dk run --rm --network none --entrypoint sha256sum "$IMAGE" /app/kvs.mjs | cut -d' ' -f1) || return 1
  want_eq "$sha" "$BUNDLE_SHA" "sha256 of /app/kvs.mjs" || return 1
  dk run --rm --network none "$IMAGE" sh -c 'test ! -e /app/node_modules && test ! -e /src' || fail "node_modules or sources in the runtime image" || return 1
  echo "/app holds only kvs.mjs (the host bundle, sha256 ${sha:0:12}), no node_modules, no sources"
}
run_check "runtime image ships only dist/kvs.mjs" check_image_contents

start_cluster() {
  local n a
  for n in "${NAMES[@]}"; do
    a=${ADDR[$n]}
    if curl -s -o /dev/null -m 1 "http://$a/health"; then fail "something already answers on $a (set KVS_PORT)"; return 1; fi
  done
  for n in "${NAMES[@]}"; do
    CONTAINERS+=("kvs-check-$n")
    dk run -d --name "kvs-check-$n" --network host -e SOCKET_ADDRESS="${ADDR[$n]}" -e VIEW="$VIEW" "$IMAGE" >/dev/null || return 1
    echo "  started kvs-check-$n: SOCKET_ADDRESS=${ADDR[$n]} VIEW=$VIEW"
  done
  local started; started=$(now_ms)
  for n in "${NAMES[@]}"; do
    for _ in $(seq 1 120); do curl -sf -o /dev/null -m 1 "http://${ADDR[$n]}/health" && break; sleep 0.25; done
    http GET "${ADDR[$n]}" /health
    want_eq "$H_STATUS" 200 "$n /health" || { dk logs "kvs-check-$n" 2>&1 | tail -n 20; return 1; }
  done
  echo "all three answer /health $(secs $(( $(now_ms) - started )))s after docker run"
}
run_check "three containers (--network host, 127.0.0.2-4:$PORT) answer /health" start_cluster
if [ "$FAILED" -gt 0 ]; then die "the cluster did not start"; fi

check_non_root() {
  local n pid uid
  for n in "${NAMES[@]}"; do
    pid=$(dk inspect --format '{{.State.Pid}}' "kvs-check-$n")
    uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
    want_eq "$uid" 10001 "uid of $n's node process (pid $pid)" || return 1
  done
  echo "node runs as uid 10001 in all three (PID 1 of each container)"
}
run_check "replicas run as a non-root user" check_non_root

views_are() { # views_are EXPECTED_SORTED_CSV NAMES...
  local want=$1 n got; shift
  for n in "$@"; do
    http GET "${ADDR[$n]}" /view
    [ "$H_STATUS" = 200 ] || return 1
    got=$(js 'o.view.slice().sort().join(",")' "$H_BODY") || return 1
    [ "$got" = "$want" ] || return 1
  done
}
ALL3=$(printf '%s\n' "${ADDR[alice]}" "${ADDR[bob]}" "${ADDR[carol]}" | LC_ALL=C sort | paste -sd,)
TWO=$(printf '%s\n' "${ADDR[alice]}" "${ADDR[bob]}" | LC_ALL=C sort | paste -sd,)

check_view3() {
  views_are "$ALL3" alice bob carol || fail "views differ from $ALL3: $H_BODY" || return 1
  echo "GET /view on each: 3 members ($ALL3)"
}
run_check "GET /view has the 3 members on every replica" check_view3

M=null
meta_of() { js 'JSON.stringify(o["causal-metadata"])' "$1"; }
check_put_get() {
  http PUT "${ADDR[alice]}" /kvs/x '{"value": 1, "causal-metadata": null}'
  want_eq "$H_STATUS" 201 "PUT x on alice" || return 1
  want_eq "$(js 'o.result' "$H_BODY")" created "result" || return 1
  M=$(meta_of "$H_BODY")
  http GET "${ADDR[bob]}" /kvs/x "{\"causal-metadata\": $M}"
  want_eq "$H_STATUS" 200 "GET x on bob with alice's metadata" || return 1
  want_eq "$(js 'JSON.stringify(o.value)' "$H_BODY")" 1 "value (the number 1)" || return 1
  want_eq "$(js 'o.result' "$H_BODY")" found "result" || return 1
  M=$(meta_of "$H_BODY")
  http GET "${ADDR[carol]}" /kvs/x '' -H "X-Causal-Metadata: $M"
  want_eq "$H_STATUS" 200 "GET x on carol, metadata in X-Causal-Metadata" || return 1
  want_eq "$(js 'JSON.stringify(o.value)' "$H_BODY")" 1 "value" || return 1
  echo "PUT x=1 on alice (201 created); GET on bob (body metadata) and carol (header metadata): 200, value 1"
}
run_check "PUT then GET with causal metadata across replicas" check_put_get

check_overwrite() {
  http PUT "${ADDR[bob]}" /kvs/x "{\"value\": \"two\", \"causal-metadata\": $M}"
  want_eq "$H_STATUS" 200 "PUT x on bob" || return 1
  want_eq "$(js 'o.result' "$H_BODY")" replaced "result" || return 1
  M=$(meta_of "$H_BODY")
  local n
  for n in carol alice; do
    http GET "${ADDR[$n]}" /kvs/x "{\"causal-metadata\": $M}"
    want_eq "$H_STATUS" 200 "GET x on $n" || return 1
    want_eq "$(js 'JSON.stringify(o.value)' "$H_BODY")" '"two"' "value on $n" || return 1
  done
  http PUT "${ADDR[alice]}" /kvs/gone "{\"value\": {\"a\": [1, 2]}, \"causal-metadata\": $M}"
  want_eq "$H_STATUS" 201 "PUT gone on alice" || return 1
  M=$(meta_of "$H_BODY")
  http DELETE "${ADDR[carol]}" /kvs/gone "{\"causal-metadata\": $M}"
  want_eq "$H_STATUS" 200 "DELETE gone on carol" || return 1
  M=$(meta_of "$H_BODY")
  http GET "${ADDR[bob]}" /kvs/gone "{\"causal-metadata\": $M}"
  want_eq "$H_STATUS" 404 "GET gone on bob after the delete" || return 1
  want_eq "$(js 'o.error' "$H_BODY")" "Key does not exist" "error" || return 1
  echo "replace on bob seen on carol and alice; delete on carol seen on bob (404)"
}
run_check "replace and delete, causally, on other replicas" check_overwrite

check_bad_requests() {
  local long; long=$(printf 'k%.0s' $(seq 1 51))
  http PUT "${ADDR[alice]}" /kvs/z '{"causal-metadata": null}'
  want_eq "$H_STATUS" 400 "PUT without value" || return 1
  want_eq "$(js 'o.error' "$H_BODY")" "PUT request does not specify a value" "error" || return 1
  http PUT "${ADDR[alice]}" "/kvs/$long" '{"value": 1, "causal-metadata": null}'
  want_eq "$H_STATUS" 400 "PUT with a 51-character key" || return 1
  want_eq "$(js 'o.error' "$H_BODY")" "Key is too long" "error" || return 1
  http PUT "${ADDR[bob]}" /kvs/z 'this is not json'
  want_eq "$H_STATUS" 400 "PUT with a body that is not JSON" || return 1
  case "$H_TYPE" in application/json*) ;; *) fail "content type of the 400: $H_TYPE"; return 1;; esac
  want_eq "$(js 'typeof o.error' "$H_BODY")" string "error field" || return 1
  http GET "${ADDR[carol]}" /kvs/x '{"causal-metadata": {"forged": 7}}'
  want_eq "$H_STATUS" 400 "GET with forged metadata" || return 1
  want_eq "$(js 'typeof o.error' "$H_BODY")" string "error field" || return 1
  http GET "${ADDR[alice]}" /kvs/z '{"causal-metadata": null}'
  want_eq "$H_STATUS" 404 "z after the bad PUTs" || return 1
  echo "no value, long key, non-JSON body, forged metadata: 400 with a JSON error; nothing stored"
}
run_check "a bad request gets 400 JSON" check_bad_requests

check_json_logs() {
  local n logs
  for n in "${NAMES[@]}"; do
    logs=$(dk logs "kvs-check-$n" 2>/dev/null) || return 1
    printf '%s\n' "$logs" | node -e '
      const lines = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean);
      const parsed = lines.map((l) => JSON.parse(l));
      if (!parsed.some((o) => o.event === "listening")) throw new Error("no listening line");
      console.log("  " + process.argv[1] + ": " + lines.length + " JSON lines, events " + [...new Set(parsed.map((o) => o.event))].join(","));
    ' "$n" || fail "$n's stdout is not JSON lines" || return 1
  done
  echo "each replica logs JSON lines to stdout"
}
run_check "logs are JSON on stdout" check_json_logs

stop_clean() { # stop_clean NAME: docker stop, exit code 0 within 3 s, a shutdown line in the log
  local n=$1 started took code
  started=$(now_ms)
  dk stop -t 10 "kvs-check-$n" >/dev/null || return 1
  took=$(( $(now_ms) - started ))
  code=$(dk inspect --format '{{.State.ExitCode}}' "kvs-check-$n")
  echo "  docker stop kvs-check-$n: ${took} ms, exit code $code, OOMKilled $(dk inspect --format '{{.State.OOMKilled}}' "kvs-check-$n")"
  want_eq "$code" 0 "exit code of $n" || return 1
  [ "$took" -lt "$STOP_MS_MAX" ] || fail "docker stop of $n took ${took} ms, over $STOP_MS_MAX ms" || return 1
  local last; last=$(dk logs --tail 5 "kvs-check-$n" 2>/dev/null)
  [[ $last == *'"signal":"SIGTERM"'* ]] || fail "no shutdown line for SIGTERM in $n's log" || return 1
  STOP_MS=$took
}
check_stop_carol() {
  stop_clean carol || return 1
  echo "docker stop carol: exit code 0 after ${STOP_MS} ms (SIGTERM handled by node as PID 1)"
}
run_check "docker stop exits cleanly (exit code 0, < $(secs "$STOP_MS_MAX") s)" check_stop_carol

check_views_shrink() {
  local started; started=$(now_ms)
  for _ in $(seq 1 80); do
    if views_are "$TWO" alice bob >/dev/null; then
      echo "alice and bob dropped carol from their views $(secs $(( $(now_ms) - started )))s after the stop"
      return 0
    fi
    sleep 0.25
  done
  views_are "$TWO" alice bob
  fail "after 20 s the views are still not $TWO: $H_BODY"
}
run_check "the others remove the stopped replica from their views" check_views_shrink

check_available() {
  http GET "${ADDR[alice]}" /kvs/x "{\"causal-metadata\": $M}"
  want_eq "$H_STATUS" 200 "GET x on alice with carol down" || return 1
  want_eq "$(js 'JSON.stringify(o.value)' "$H_BODY")" '"two"' "value" || return 1
  http PUT "${ADDR[bob]}" /kvs/w "{\"value\": \"while carol was down\", \"causal-metadata\": $M}"
  want_eq "$H_STATUS" 201 "PUT w on bob with carol down" || return 1
  M=$(meta_of "$H_BODY")
  echo "reads and writes go on with carol down"
}
run_check "the store stays available with one replica down" check_available

check_rejoin() {
  local started; started=$(now_ms)
  dk start "kvs-check-carol" >/dev/null || return 1
  for _ in $(seq 1 120); do
    if views_are "$ALL3" alice bob carol >/dev/null; then break; fi
    sleep 0.25
  done
  views_are "$ALL3" alice bob carol || fail "views after carol's restart: $H_BODY" || return 1
  local joined; joined=$(secs $(( $(now_ms) - started )))
  for _ in $(seq 1 60); do
    http GET "${ADDR[carol]}" /kvs/w "{\"causal-metadata\": $M}" >/dev/null
    [ "$H_STATUS" = 503 ] || break
    sleep 0.25
  done
  http GET "${ADDR[carol]}" /kvs/w "{\"causal-metadata\": $M}"
  want_eq "$H_STATUS" 200 "GET w on the restarted carol" || return 1
  want_eq "$(js 'o.value' "$H_BODY")" "while carol was down" "value" || return 1
  echo "docker start carol: back in all views after ${joined}s; serves the write it missed after $(secs $(( $(now_ms) - started )))s"
}
run_check "the stopped replica restarts, rejoins and catches up" check_rejoin

check_stop_all() {
  local n times=()
  for n in "${NAMES[@]}"; do stop_clean "$n" || return 1; times+=("$n ${STOP_MS} ms"); done
  echo "all three stopped with exit code 0: ${times[*]}"
}
run_check "docker stop of every replica exits 0" check_stop_all

echo
say "container logs (stdout of each replica):"
for n in "${NAMES[@]}"; do
  echo "--- kvs-check-$n"
  dk logs "kvs-check-$n" 2>&1 | cut -c1-400
done

# ------------------------------------------------------------------------------------ 7. full path

phase "docker build, default path (npm ci in the build stage)"
if [ "$FULL_BUILD" = no ]; then
  skip_check "default build path (npm ci + npm run build in the image)" "FULL_BUILD=no"
elif ! ping_out=$(timeout 60 "${DK[@]}" run --rm --network host "$NPM_BASE_IMAGE" \
    npm ping --fetch-retries=0 --fetch-timeout=20000 2>&1); then
  echo "$ping_out" | tail -n 5
  if [ "$FULL_BUILD" = yes ]; then
    FAILED=$((FAILED + 1)); RESULTS+=("FAIL  default build path: the npm registry does not answer from a container"); say "FAIL  npm registry not reachable from a container"
  else
    skip_check "default build path (npm ci + npm run build in the image)" "the npm registry does not answer from a container here"
  fi
else
  echo "$ping_out" | tail -n 2
  IMAGES+=("$FULL_IMAGE")
  full_ok=1
  DOCKER_BUILDKIT=0 timeout 900 "${DK[@]}" build --network host \
    --build-arg BUILD_IMAGE="$NPM_BASE_IMAGE" --build-arg RUNTIME_IMAGE="$BASE_IMAGE" \
    -t "$FULL_IMAGE" "$WORK/context" 2>&1 | tee "$WORK/build-full.log" || full_ok=0
  check_full_build() {
    [ "$full_ok" -eq 1 ] || fail "docker build (default BUNDLE_SOURCE=build) failed" || return 1
    grep -q '^added [0-9]* packages' "$WORK/build-full.log" || fail "no 'added N packages' from npm ci in the build log" || return 1
    local sha; sha=$(dk run --rm --network none --entrypoint sha256sum "$FULL_IMAGE" /app/kvs.mjs | cut -d' ' -f1)
    if [ "$sha" = "$BUNDLE_SHA" ]; then echo "  the bundle built in the image is byte-identical to the host's"
    else echo "  note: the bundle built in the image differs from the host's (sha256 ${sha:0:12} vs ${BUNDLE_SHA:0:12})"; fi
    CONTAINERS+=("kvs-check-smoke")
    dk run -d --name kvs-check-smoke --network host -e SOCKET_ADDRESS="$SMOKE_ADDR" -e VIEW="$SMOKE_ADDR" "$FULL_IMAGE" >/dev/null || return 1
    for _ in $(seq 1 120); do curl -sf -o /dev/null -m 1 "http://$SMOKE_ADDR/health" && break; sleep 0.25; done
    http PUT "$SMOKE_ADDR" /kvs/k '{"value": "v", "causal-metadata": null}'
    want_eq "$H_STATUS" 201 "PUT on the one-replica smoke container" || return 1
    local started code took; started=$(now_ms)
    dk stop -t 10 kvs-check-smoke >/dev/null; took=$(( $(now_ms) - started ))
    code=$(dk inspect --format '{{.State.ExitCode}}' kvs-check-smoke)
    want_eq "$code" 0 "exit code of the smoke container" || return 1
    echo "npm ci + npm run build ran in the build stage; the image serves a PUT and stops with exit 0 in ${took} ms"
  }
  run_check "default build path (npm ci + npm run build in the image, classic builder)" check_full_build
fi

# ------------------------------------------------------------------------------------ 8. summary
# (printed by cleanup, which runs on every exit)
if [ "$FAILED" -gt 0 ]; then exit 1; fi
exit 0
