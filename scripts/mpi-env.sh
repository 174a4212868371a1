# shellcheck shell=bash
# Source this file: it installs Open MPI 4.1 and libclang (Debian: libopenmpi-dev openmpi-bin
# libclang-dev; the `mpi` crate's bindgen needs libclang) when `mpicc` or libclang is missing,
# then exports what running `mpirun` needs here:
#
#   source scripts/mpi-env.sh
#
# Open MPI refuses to start as root unless told twice; CI machines and containers run as root.
if ! command -v mpicc >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1; then
  echo "exo: installing Open MPI and libclang (Debian packages libopenmpi-dev openmpi-bin libclang-dev)" >&2
  _exo_sudo=""
  if [ "$(id -u)" != 0 ]; then _exo_sudo="sudo"; fi
  $_exo_sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $_exo_sudo apt-get install -y -qq libopenmpi-dev openmpi-bin libclang-dev >/dev/null
  unset _exo_sudo
fi
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
