# shellcheck shell=bash disable=SC2034
# ops/lib/common.sh - shell helpers shared by ops/run, ops/test and ops/lib/mkvar.
#
# Source it from bash; it defines functions and the package lists and
# changes nothing by itself. Everything here works on a minimal Debian 12
# (coreutils, grep, sed, util-linux, bash's /dev/tcp): no procps, no
# iproute2, no python.

# Debian packages needed to build and run the cluster.
XMPPD_BUILD_PKGS=(build-essential cmake pkg-config libzmq3-dev libexpat1-dev
    libssl-dev libhiredis-dev libjansson-dev libidn11-dev libyaml-dev
    libsqlite3-dev redis-server openssl)
# Extra packages for the integration tests.
XMPPD_TEST_PKGS=(python3 python3-slixmpp python3-pytest python3-aioxmpp)

say()  { printf 'xmppd: %s\n' "$*" >&2; }
die()  { say "$*"; exit 1; }

# binary_of NODE - the executable name of a node id (c2s.0 -> xmpp-c2s).
binary_of() {
    case "$1" in
        router.*) echo xmpp-router ;;
        c2s.*)    echo xmpp-c2s ;;
        sm.*)     echo xmpp-sm ;;
        sw.*)     echo xmpp-storage-worker ;;
        *)        return 1 ;;
    esac
}

# ensure_packages PKG... - install the packages that dpkg does not list as
# installed; touches apt only when something is missing. Uses sudo when not
# root. Returns non-zero if the installation fails.
ensure_packages() {
    local missing=() p st
    for p in "$@"; do
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || st=
        [[ $st == "install ok installed" ]] || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || { say "missing packages ${missing[*]} and not root (no sudo)"; return 1; }
        sudo=(sudo)
    fi
    say "installing missing Debian packages: ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q || return 1
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" || return 1
}

# used_tcp_ports - every local TCP port in use in this network namespace
# (listening or connected, IPv4 and IPv6), one per line.
used_tcp_ports() {
    local f
    for f in /proc/net/tcp /proc/net/tcp6; do
        [[ -r $f ]] || continue
        # awk, not a bash loop: thousands of TIME_WAIT lines are common
        awk 'NR > 1 { split($2, a, ":"); print a[2] }' "$f"
    done | while read -r hex; do echo $((16#$hex)); done | sort -un
}

# port_listening PORT - true if something listens on the TCP port.
port_listening() {
    local f want
    want=$(printf '%04X' "$1")
    for f in /proc/net/tcp /proc/net/tcp6; do
        [[ -r $f ]] || continue
        awk -v want="$want" 'NR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == want) found = 1 }
                             END { exit !found }' "$f" && return 0
    done
    return 1
}

# free_ports N - N distinct TCP ports in 20000..31999 that nothing uses now
# (below the kernel's ephemeral range, so outgoing connections don't take
# them later). Prints them space-separated.
free_ports() {
    local n=$1 out=() p tries=0
    local -A used=()
    for p in $(used_tcp_ports); do used[$p]=1; done
    while ((${#out[@]} < n)); do
        ((tries++ < 10000)) || return 1
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        [[ -n ${used[$p]:-} ]] && continue
        used[$p]=1
        out+=("$p")
    done
    echo "${out[*]}"
}

# tcp_accepts HOST PORT - true if a TCP connection to HOST:PORT succeeds.
tcp_accepts() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# redis_pong PORT - true if Redis on 127.0.0.1:PORT answers PING.
redis_pong() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "PING\r\n" >&3; IFS= read -r -t 2 r <&3; [[ $r == "+PONG"* ]]' _ "$1" 2>/dev/null
}

# cfg_get FILE SECTION KEY - a scalar from the cluster config as mkvar writes
# it: "KEY: value" at top level when SECTION is empty, else the two-space
# indented "KEY: value" inside the top-level "SECTION:" block.
cfg_get() {
    local file=$1 section=$2 key=$3
    if [[ -z $section ]]; then
        sed -n "s/^$key:[[:space:]]*\\([^[:space:]#]*\\).*/\\1/p" "$file" | head -n 1
    else
        sed -n "/^$section:/,/^[^[:space:]#]/ s/^  $key:[[:space:]]*\\([^[:space:]#]*\\).*/\\1/p" "$file" | head -n 1
    fi
}

# cfg_list FILE SECTION KEY - the items of a one-line list "KEY: [a, b]"
# inside the top-level "SECTION:" block, one per line.
cfg_list() {
    sed -n "/^$2:/,/^[^[:space:]#]/ s/^  $3:[[:space:]]*\\[\\([^]]*\\)\\].*/\\1/p" "$1" | head -n 1 |
        tr ',' '\n' | tr -d ' \t\r"'"'" | grep -v '^$'
}

# cfg_nodes FILE - the node ids the config lists, in start order: routers
# ("  - id: X" under "routers:"), then storage workers, sm shards and c2s.
cfg_nodes() {
    sed -n '/^routers:/,/^[^[:space:]#]/ s/^  - id:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$1"
    cfg_list "$1" storage workers
    cfg_list "$1" sm shards
    cfg_list "$1" c2s nodes
}

# log_has_ready LOGFILE NODE - true once NODE logged the message "ready":
#   <timestamp> <node> <level> [trace] ready
log_has_ready() {
    local re="^[^ ]+ ${2//./\\.} [a-z]+ (\\[[^]]*\\] )?ready( |\$)"
    grep -qE "$re" "$1" 2>/dev/null
}

# pid_alive PID - true while the process exists and is not a zombie.
pid_alive() {
    local st
    [[ -r /proc/$1/stat ]] || return 1
    st=$(<"/proc/$1/stat") 2>/dev/null || return 1
    st=${st##*) }
    [[ ${st%% *} != Z ]]
}

# display_path PATH - PATH relative to the current directory when it lies
# inside it, else unchanged.
display_path() {
    case "$1" in
        "$PWD"/*) echo "${1#"$PWD"/}" ;;
        *) echo "$1" ;;
    esac
}
