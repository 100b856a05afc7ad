#!/usr/bin/env bash
# Build the image with podman, index the sample corpus inside the container, answer the example
# questions through the CLI and check the quoted sources. Verified on these machines (rootful podman,
# runc, cgroupfs, a debootstrap base image because no registry is reachable).
#
#   make docker-check                 # or ./scripts/docker-check.sh
#
# Environment (all optional):
#   BASE_IMAGE        base image; default: the local debootstrap image scripts/podman-setup.sh builds
#                     (set python:3.11-slim where a registry is reachable)
#   MODEL_DIR         local model directory baked into the image
#                     (default ../shared/models/multilingual-e5-small-zh-en)
#   TORCH_FIND_LINKS  host directory with the torch +cpu wheel (default /opt/wheels when it holds one);
#                     empty: the Dockerfile's TORCH_INDEX_URL (download.pytorch.org) is used
#   PY                python with the dev extras, for the test Bot API server (default .venv/bin/python)
#   KEEP=1            keep the scratch directory (build context, index); the images are always kept
#                     (localhost/quotebot:check, :check-model) so a second run reuses the layers
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

MODEL_DIR=${MODEL_DIR:-$(realpath -m ../shared/models/multilingual-e5-small-zh-en)}
TAG=localhost/quotebot:check
PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)
start=$(date +%s)
SECONDS=0
step() { printf '\ndocker-check [%3ds] %s\n' "$SECONDS" "$*" >&2; }
fail() { printf 'docker-check: FAIL: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || fail "run as root: rootful podman is what works here (see scripts/podman-setup.sh)"
PY=${PY:-$REPO/.venv/bin/python}
[[ -x $PY ]] || fail "no $PY: run \`make setup-dev\` first (the bot check uses tests/telegram_server.py)"
[[ -d $MODEL_DIR ]] || fail "no model directory at $MODEL_DIR; set MODEL_DIR to a local sentence-transformers model"

step "podman and the base image"
if [[ -z ${BASE_IMAGE:-} ]]; then
    BASE_IMAGE=$(./scripts/podman-setup.sh) || fail "scripts/podman-setup.sh failed (its messages are above)"
fi
# One line naming an image ([registry[:port]/]path[:tag][@digest]); anything else means some command
# wrote to standard output where only the image name belongs.
ref_re='^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$'
if [[ $BASE_IMAGE == *$'\n'* || ! $BASE_IMAGE =~ $ref_re ]]; then
    fail "the base image name is not a valid image reference: $(printf '%q' "${BASE_IMAGE:0:300}")"
fi
echo "base image: $BASE_IMAGE" >&2

if [[ -z ${TORCH_FIND_LINKS+x} ]]; then
    TORCH_FIND_LINKS=""
    compgen -G '/opt/wheels/torch-*+cpu-*.whl' >/dev/null && TORCH_FIND_LINKS=/opt/wheels
fi

scratch=$(mktemp -d /var/tmp/quotebot-check.XXXXXX)
cleanup() {
    "${PODMAN[@]}" rm -f -i quotebot-check-health quotebot-check-serve >/dev/null 2>&1 || true
    if [[ -z ${KEEP:-} ]]; then
        rm -rf "$scratch"
    else
        echo "kept $scratch" >&2
    fi
}
trap cleanup EXIT

step "staging the build context: this checkout (tracked and new files) plus models/$(basename "$MODEL_DIR")"
ctx=$scratch/context
mkdir -p "$ctx/models"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [[ -e $f ]] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -C "$ctx" -xf -
model_name=$(basename "$MODEL_DIR")
cp -r --no-preserve=mode "$MODEL_DIR" "$ctx/models/$model_name"

# Inside builds pip reaches PyPI only through this host's CA bundle and pip.conf (cert = ...);
# the torch +cpu wheel comes from a mounted directory instead of download.pytorch.org.
build_args=(--format docker --network=host --build-arg "BASE_IMAGE=$BASE_IMAGE"
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
[[ -f /etc/pip.conf ]] && build_args+=(-v /etc/pip.conf:/etc/pip.conf:ro)
if [[ -n $TORCH_FIND_LINKS ]]; then
    build_args+=(-v "$TORCH_FIND_LINKS:/wheels:ro" --build-arg TORCH_FIND_LINKS=/wheels)
fi

step "building $TAG (model mounted at run time)"
"${PODMAN[@]}" build "${build_args[@]}" -t "$TAG" "$ctx" >&2
step "building $TAG-model (model baked in from models/$model_name)"
"${PODMAN[@]}" build "${build_args[@]}" --build-arg "MODEL=models/$model_name" -t "$TAG-model" "$ctx" >&2
build_done=$SECONDS
"${PODMAN[@]}" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep "quotebot:check" >&2

# The index lives in a host directory the container's non-root user owns; no network at run time,
# so nothing can reach a model hub.
index=$scratch/index
mkdir -p "$index"
chown 10001:10001 "$index"
run=("${PODMAN[@]}" run --rm -i --no-healthcheck --network=none -e HF_HUB_OFFLINE=1 -v "$index:/data/index")

step "the image runs as a non-root user"
uid=$("${run[@]}" "$TAG-model" id -u)
[[ $uid != 0 ]] || fail "the container runs as root"

step "indexing the sample corpus (shipped in the image at /data/corpus) with the baked model"
"${run[@]}" "$TAG-model" quotebot index >&2
index_done=$SECONDS

check_answers() {
    # $1: label; the rest: the podman run command up to the image. One container, one model load.
    local label=$1
    shift
    python3 -c '
import json, sys
for n, e in enumerate(json.load(open(sys.argv[1], encoding="utf-8"))):
    print(json.dumps({"id": n, "question": e["question"]}, ensure_ascii=False))
' "$REPO/sample_corpus/examples.json" >"$scratch/questions.jsonl"
    "$@" quotebot search --jsonl <"$scratch/questions.jsonl" >"$scratch/answers.jsonl" \
        || fail "$label: quotebot search --jsonl failed"
    python3 - "$REPO/sample_corpus/examples.json" "$scratch/answers.jsonl" "$label" <<'PY'
import json, sys
examples = json.load(open(sys.argv[1], encoding="utf-8"))
answers = [json.loads(line) for line in open(sys.argv[2], encoding="utf-8")]
label = sys.argv[3]
assert len(answers) == len(examples), f"{len(answers)} answers for {len(examples)} questions"
failed = 0
for example, answer in zip(examples, answers):
    hits = answer.get("hits") or []
    top = hits[0] if hits else {}
    problem = None
    if not answer.get("answered") or not hits:
        problem = f"not answered: {answer}"
    elif (top.get("doc"), top.get("title")) != (example["doc"], example["title"]):
        problem = f"quoted {top.get('doc')!r} ({top.get('title')!r}), expected {example['doc']!r} ({example['title']!r})"
    elif not any(example["answer"] in h.get("text", "") for h in hits):
        problem = f"no quote contains {example['answer']!r}"
    if problem:
        failed += 1
        print(f"docker-check: FAIL: {label}: {example['question']}: {problem}", file=sys.stderr)
    else:
        print(f"docker-check: ok: {label}: {example['question']} -> {top['doc']} 《{top['title']}》 "
              f"{top.get('outlet')} {top.get('date')}: {top['text'][:50]}...", file=sys.stderr)
sys.exit(1 if failed else 0)
PY
}

step "answering the example questions through the CLI (baked model)"
check_answers "baked model" "${run[@]}" "$TAG-model"
step "answering them again on the image without a model, the model mounted at run time"
check_answers "mounted model" "${run[@]}" -v "$MODEL_DIR:/opt/quotebot/model:ro" \
    -e QUOTEBOT_MODEL=/opt/quotebot/model "$TAG"

step "the default CMD (index, then serve) answers on Telegram (the test Bot API server on this host), is ready and passes the HEALTHCHECK"
"$PY" scripts/container_bot_check.py "$REPO/sample_corpus/examples.json" -- \
    "${PODMAN[@]}" run --rm --name quotebot-check-serve --no-healthcheck --network=host \
    -e HF_HUB_OFFLINE=1 -v "$index:/data/index" "$TAG-model" >&2 || fail "the bot in the container did not answer"

printf '\ndocker-check: passed in %ds (build %ds, index %ds, questions %ds)\n' \
    "$(($(date +%s) - start))" "$build_done" "$((index_done - build_done))" "$((SECONDS - index_done))" >&2
