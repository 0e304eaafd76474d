# Sourced by tests/clients/run.sh and tests/tempest/run.sh (and, with
# VENV and REQUIREMENTS set, by tests/reliability/openapi.sh): makes sure
# $REPO/.venv-clients holds the pinned clients of requirements.txt,
# (re)installing them only when that file changed (its sha256 is stamped
# inside the venv). Sets VENV. Expects REPO.
VENV="${VENV:-$REPO/.venv-clients}"
REQUIREMENTS="${REQUIREMENTS:-$REPO/tests/clients/requirements.txt}"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [[ ! -x "$VENV/bin/python" || "$have" != "$want" ]]; then
    echo "== installing $REQUIREMENTS into $VENV (it changed)" >&2
    if [[ ! -x "$VENV/bin/python" ]]; then
        "$PYTHON" -m venv "$VENV"
    fi
    rm -f "$STAMP"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS" >&2
    echo "$want" >"$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
fi
