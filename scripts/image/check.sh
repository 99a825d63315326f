#!/usr/bin/env bash
# Checks the image scripts/image/build.sh built, without running a
# container (these machines cannot): its configuration (user, volume, port,
# entrypoint and command), then the binary inside it, run chrooted into the
# image's mounted filesystem as the image's user, so that it sees what the
# image holds and nothing else: no CA bundle, no /usr/share/zoneinfo, no
# /etc. It runs `hookline version`, `validate` and `test` on
# examples/apptoto (whose tests format dates in time zones), and the
# image's own command for a moment, on a loopback port, until /readyz
# answers.
#
# Usage: scripts/image/check.sh [IMAGE]     default IMAGE: localhost/hookline:dev
set -euo pipefail
cd "$(dirname "$0")/../.."

image=${1:-localhost/hookline:dev}
driver=${BUILDAH_STORAGE_DRIVER:-vfs}
# buildah mount needs root, or a user namespace in which one is root.
if [ "$(id -u)" != 0 ] && [ -z "${_HOOKLINE_UNSHARED:-}" ]; then
  exec env _HOOKLINE_UNSHARED=1 buildah unshare "$0" "$@"
fi
fail() { echo "check.sh: $*" >&2; exit 1; }
bah() { buildah --storage-driver "$driver" "$@"; }

config() { bah inspect --type image --format "$1" "$image"; }
echo "--- image configuration"
user=$(config '{{.OCIv1.Config.User}}')
# Go template output (buildah 1.28, Debian 12's, has no json function):
# a list prints as [a b], a set as map[a:{}].
entrypoint=$(config '{{.OCIv1.Config.Entrypoint}}')
cmd=$(config '{{.OCIv1.Config.Cmd}}')
volumes=$(config '{{.OCIv1.Config.Volumes}}')
ports=$(config '{{.OCIv1.Config.ExposedPorts}}')
printf 'user %s\nentrypoint %s\ncmd %s\nvolumes %s\nports %s\n' "$user" "$entrypoint" "$cmd" "$volumes" "$ports"
[ "$user" = 65532:65532 ] || fail "the image's user is $user, not 65532:65532"
[ "$entrypoint" = '[/hookline]' ] || fail "entrypoint $entrypoint"
[[ "$cmd" == '[serve --listen 0.0.0.0:8080 --data /data '* ]] || fail "command $cmd"
[[ "$volumes" == *'/data:'* ]] || fail "no /data volume: $volumes"
[[ "$ports" == *'8080/tcp:'* ]] || fail "port 8080 not exposed: $ports"

ctr=$(bah from --pull-never "$image")
server=
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  bah umount "$ctr" >/dev/null || true
  bah rm "$ctr" >/dev/null || true
}
trap cleanup EXIT
root=$(bah mount "$ctr")

echo "--- contents"
(cd "$root" && find . -mindepth 1 | sort | xargs ls -ld --numeric-uid-gid)
[ "$(cd "$root" && find . -mindepth 1 | sort | tr '\n' ' ')" = "./data ./hookline ./tmp " ] ||
  fail "the image holds more than /hookline, /data and /tmp"
[ "$(stat -c %u:%g "$root/data")" = 65532:65532 ] || fail "/data is not owned by 65532:65532"

# The rules go into the working container only (it is removed at exit).
cp -r examples/apptoto "$root/rules"
inside() { chroot --userspec=65532:65532 --groups=65532 "$root" "$@"; }

echo "--- hookline version"
inside /hookline version | tee "$root/tmp/version"
grep -q '^hookline [^ ]' "$root/tmp/version" || fail "hookline version printed no version"
! grep -q '^commit:  unknown' "$root/tmp/version" || fail "the image's binary does not know its commit"

echo "--- hookline validate /rules"
inside /hookline validate /rules
echo "--- hookline test /rules"
inside /hookline test /rules

echo "--- the image's command, on a loopback port"
# The image's own arguments, then a loopback port of the kernel's choice
# (a later flag wins) and the sandbox: the examples' secrets are not set.
mapfile -t args < <(config '{{range .OCIv1.Config.Cmd}}{{println .}}{{end}}' | sed '/^$/d')
log="$root/tmp/serve.log"
HOOKLINE_INGEST_TOKENS=check HOOKLINE_ADMIN_TOKEN=check-admin \
  chroot --userspec=65532:65532 --groups=65532 "$root" \
  /hookline "${args[@]}" --listen 127.0.0.1:0 --sandbox 2>"$log" &
server=$!
addr=
for _ in $(seq 100); do
  addr=$(sed -n 's/.* on http:\/\/\([^ ]*\).*/\1/p' "$log" | head -1)
  [ -n "$addr" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$log"; fail "serve exited"; }
  sleep 0.2
done
[ -n "$addr" ] || { cat "$log"; fail "serve did not start"; }
ready=$(curl -fsS "http://$addr/readyz") || { cat "$log"; fail "/readyz did not answer 200"; }
echo "serving on $addr, /readyz: $ready"
ls "$root/data" | grep -q . || fail "serve wrote nothing into /data"
echo "image $image: ok"
