#!/usr/bin/env bash
# `make run`: bring the index up to date, then start the bot -- on Telegram when a token is
# configured (QUOTEBOT_TELEGRAM_TOKEN in the environment or .env), else as a chat in this terminal.
#
#   ./scripts/run.sh            # serve or chat, decided by the token
#   ./scripts/run.sh chat       # force the terminal chat
#   ./scripts/run.sh serve      # force Telegram (fails clearly without a token)
#
# Settings come from QUOTEBOT_* variables and .env, exactly as for `quotebot` itself; unset ones take
# the product defaults (corpus sample_corpus/, index var/index/). When QUOTEBOT_MODEL is set nowhere
# and the team's local model copy ../shared/models/multilingual-e5-small-zh-en exists, it is used
# instead of downloading the default model from the hub.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
case $mode in
"" | chat | serve) ;;
*)
    echo "usage: $0 [chat|serve]" >&2
    exit 2
    ;;
esac

VENV=${VENV:-.venv}
QUOTEBOT=$VENV/bin/quotebot
if [[ ! -x $QUOTEBOT ]]; then
    echo "run.sh: $QUOTEBOT not found; run \`make run\` (it sets up $VENV first) or \`make setup\`" >&2
    exit 1
fi

# Ask quotebot's own settings loader, so .env counts exactly as it does for the bot.
settings=$("$VENV/bin/python" - <<'PY'
from bot.config import ConfigError, load_settings

try:
    s = load_settings()
except ConfigError as exc:
    raise SystemExit(f"quotebot: {exc}")
print("token" if s.telegram_token else "no-token")
print("model-set" if "model" in s.model_fields_set else "model-default")
print("log-set" if "log_level" in s.model_fields_set else "log-default")
PY
)
{ read -r token; read -r model_state; read -r log_state; } <<<"$settings"

if [[ $mode == serve && $token != token ]]; then
    echo "run.sh: serve needs a bot token: set QUOTEBOT_TELEGRAM_TOKEN (from @BotFather) in the environment or .env" >&2
    exit 2
fi

LOCAL_MODEL=../shared/models/multilingual-e5-small-zh-en
if [[ $model_state == model-default && -d $LOCAL_MODEL ]]; then
    QUOTEBOT_MODEL=$(cd "$LOCAL_MODEL" && pwd)
    export QUOTEBOT_MODEL
    echo "run.sh: using the local model $QUOTEBOT_MODEL (set QUOTEBOT_MODEL to choose another)" >&2
fi

# Incremental: the second run only re-reads page hashes and embeds nothing new.
"$QUOTEBOT" index

if [[ -z $mode ]]; then
    mode=chat
    [[ $token == token ]] && mode=serve
fi
if [[ $mode == chat ]]; then
    [[ $token == token ]] || echo "run.sh: no QUOTEBOT_TELEGRAM_TOKEN configured: starting the terminal chat (Ctrl-D to quit)" >&2
    # Library INFO lines (model and FAISS loading) would interleave with the answers.
    [[ $log_state == log-set ]] || export QUOTEBOT_LOG_LEVEL=WARNING
    export TQDM_DISABLE=${TQDM_DISABLE:-1}
fi
exec "$QUOTEBOT" "$mode"
