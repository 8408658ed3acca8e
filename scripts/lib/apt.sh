# Sourced by scripts/ensure-*.sh: installs a Debian package when the command it provides is
# missing, quietly (its apt output shown only when apt fails), as root or through sudo.
#   ensure_command COMMAND PACKAGE WHO   # WHO names the calling script in messages

ensure_command() {
    local command="$1" package="$2" who="$3"
    if command -v "$command" >/dev/null 2>&1; then
        return 0
    fi
    local sudo="" log
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    log="$(mktemp)"
    echo "$who: installing $package (for $command)" >&2
    if ! { $sudo apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$package"; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "$who: apt-get install $package failed" >&2
        return 1
    fi
    rm -f "$log"
    if ! command -v "$command" >/dev/null 2>&1; then
        echo "$who: $command still missing after installing $package" >&2
        return 1
    fi
}
