#!/usr/bin/env bash
# scripts/deps.sh [--optional] [--check]: makes sure the tools this suite needs are installed.
#
# Checks for a C compiler, make, the openssl command, OpenSSL's headers (libssl), pkg-config,
# curl, shunit2 and python3, and installs what is missing with apt-get (Debian, Ubuntu), dnf
# (Fedora, RHEL) or brew (macOS), through sudo when not root, without asking questions. On any
# other system it prints what is missing and exits 1.
#
#   --optional  also the peers the interop and browser tests use when present (gnutls-cli, nginx,
#               clang, Go, Node.js, a JDK, Python's requests, Chromium, Firefox ESR and the
#               NSS tools)
#   --check     only report; install nothing (exit 1 when something is missing)
#
# To add a tool, add one line to the table below (and a case to `have` if `command -v` is not
# the way to find it).
set -euo pipefail

# tool             apt-get         dnf                  brew       required?
TOOLS="
cc                 build-essential gcc                  -          required
make               make            make                 make       required
openssl            openssl         openssl              openssl@3  required
openssl-headers    libssl-dev      openssl-devel        openssl@3  required
pkg-config         pkg-config      pkgconf-pkg-config   pkg-config required
curl               curl            curl                 curl       required
shunit2            shunit2         shunit2              shunit2    required
python3            python3         python3              python@3   required
gnutls-cli         gnutls-bin      gnutls-utils         gnutls     optional
nginx              nginx-light     nginx                nginx      optional
clang              clang           clang                llvm       optional
go                 golang-go       golang               go         optional
node               nodejs          nodejs               node       optional
javac              default-jdk-headless java-17-openjdk-devel openjdk optional
python3-requests   python3-requests python3-requests    -          optional
chromium           chromium        chromium             chromium   optional
firefox-esr        firefox-esr     -                    -          optional
certutil           libnss3-tools   nss-tools            nss        optional
tshark             tshark          wireshark-cli        wireshark  optional
"

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

want_optional=0 check_only=0
for arg in "$@"; do
    case $arg in
        --optional) want_optional=1 ;;
        --check) check_only=1 ;;
        --help | -h) usage; exit 0 ;;
        *) echo "deps.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
    esac
done

# have TOOL: true when TOOL is usable here.
have() {
    case $1 in
        cc) command -v cc >/dev/null || command -v gcc >/dev/null || command -v clang >/dev/null ;;
        openssl-headers)
            # pkg-config knows OpenSSL, or a compiler can include its header.
            pkg-config --exists openssl 2>/dev/null && return 0
            local compiler
            compiler=$(command -v cc || command -v gcc || command -v clang) || return 1
            echo '#include <openssl/ssl.h>' | "$compiler" -E -x c - >/dev/null 2>&1 ;;
        shunit2) command -v shunit2 >/dev/null || [[ -r /usr/share/shunit2/shunit2 ]] ;;
        nginx) command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] ;;
        python3-requests) python3 -c 'import requests' 2>/dev/null || /usr/bin/python3 -c 'import requests' 2>/dev/null ;;
        *) command -v "$1" >/dev/null ;;
    esac
}

if command -v apt-get >/dev/null; then manager=apt-get; column=2
elif command -v dnf >/dev/null; then manager=dnf; column=3
elif command -v brew >/dev/null; then manager=brew; column=4
else manager=''; column=2
fi

missing_tools=() packages=()
while read -r tool _ _ _ need; do
    [[ -n $tool ]] || continue
    [[ $need == required || $want_optional == 1 ]] || continue
    if have "$tool"; then
        echo "found    $tool"
        continue
    fi
    package=$(awk -v t="$tool" -v c="$column" '$1 == t { print $c }' <<<"$TOOLS")
    echo "missing  $tool${manager:+ (package: $package)}"
    missing_tools+=("$tool")
    if [[ $package == - ]]; then
        case $tool in
            cc) echo "         $tool cannot be installed with $manager; on macOS run: xcode-select --install" >&2 ;;
            python3-requests) echo "         $tool cannot be installed with $manager; run: pip3 install requests" >&2 ;;
        esac
    elif [[ " ${packages[*]:-} " != *" $package "* ]]; then
        packages+=("$package")
    fi
done <<<"$TOOLS"

if [[ ${#missing_tools[@]} == 0 ]]; then
    echo "All tools are installed."
    exit 0
fi
if [[ $check_only == 1 ]]; then
    echo "Missing: ${missing_tools[*]}" >&2
    exit 1
fi
if [[ -z $manager ]]; then
    echo "deps.sh: no apt-get, dnf or brew here; please install: ${missing_tools[*]}" >&2
    echo "(Debian package names: ${packages[*]})" >&2
    exit 1
fi
if [[ ${#packages[@]} == 0 ]]; then
    exit 1
fi

sudo=()
if [[ $manager != brew && $(id -u) != 0 ]]; then
    if ! command -v sudo >/dev/null; then
        echo "deps.sh: not root and no sudo; as root, run: $manager install ${packages[*]}" >&2
        exit 1
    fi
    sudo=(sudo)
    # sudo drops the environment; apt-get must still see DEBIAN_FRONTEND.
    [[ $manager != apt-get ]] || sudo+=(env DEBIAN_FRONTEND=noninteractive)
fi

echo "Installing with $manager: ${packages[*]}"
case $manager in
    apt-get)
        export DEBIAN_FRONTEND=noninteractive
        "${sudo[@]}" apt-get update
        # A package this archive does not have (firefox-esr is Debian's; Ubuntu's Firefox is a
        # snap) would make apt-get install nothing at all: leave it out, and say so below.
        available=()
        for package in "${packages[@]}"; do
            if apt-cache show "$package" >/dev/null 2>&1; then available+=("$package")
            else echo "deps.sh: apt-get has no package '$package' here; skipping it" >&2
            fi
        done
        "${sudo[@]}" apt-get install -y --no-install-recommends "${available[@]}" ;;
    dnf) "${sudo[@]}" dnf install -y "${packages[@]}" ;;
    brew) HOMEBREW_NO_AUTO_UPDATE=1 brew install "${packages[@]}" ;;
esac

still_missing=()
for tool in "${missing_tools[@]}"; do have "$tool" || still_missing+=("$tool"); done
if [[ ${#still_missing[@]} -gt 0 ]]; then
    echo "deps.sh: still missing after installing: ${still_missing[*]}" >&2
    exit 1
fi
echo "All tools are installed."
