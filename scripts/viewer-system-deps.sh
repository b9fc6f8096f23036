#!/usr/bin/env bash
# Installs what the viewer needs at run time on Debian/Ubuntu, when it is missing: an X server
# for headless runs (Xvfb), Mesa's software Vulkan driver (lavapipe) and the X11 client
# libraries winit loads. Building the viewer needs none of these.
set -euo pipefail
PACKAGES=(xvfb xauth mesa-vulkan-drivers libvulkan1 libx11-6 libx11-xcb1 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing the viewer's runtime packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
