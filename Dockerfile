# quotebot: the Telegram bot in a container (CPU only).
#
#   docker build -t quotebot .                                  # model mounted at run time
#   docker build -t quotebot --build-arg MODEL=intfloat/multilingual-e5-small .   # baked from the hub
#   docker build -t quotebot --build-arg MODEL=models/multilingual-e5-small .      # baked from ./models/
#
#   docker run -d --name quotebot -e QUOTEBOT_TELEGRAM_TOKEN=... \
#       -v "$PWD/pages:/data/corpus" -v quotebot-index:/data/index quotebot
#
# Build arguments:
#   BASE_IMAGE        any Debian-like image with python3.11 and python3-venv (default python:3.11-slim)
#   TORCH_VERSION     the pinned torch release; the +cpu build is installed (no CUDA, ~200 MB not ~3 GB)
#   TORCH_INDEX_URL   where the +cpu wheel comes from (PyTorch's CPU index)
#   TORCH_FIND_LINKS  a directory holding the torch +cpu wheel instead (e.g. mounted with podman build -v);
#                     torch's own dependencies then come from PyPI
#   EXTRAS            optional extras to install, comma-separated (e.g. qdrant for QUOTEBOT_BACKEND=qdrant)
#   MODEL             empty: no model in the image (mount one and set QUOTEBOT_MODEL, or let it download);
#                     a directory inside the build context: copied to /opt/quotebot/model;
#                     otherwise a hub id: downloaded at build time into /opt/quotebot/model
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# A venv works the same on python:3.11-slim and on a Debian image whose system pip is
# externally managed (PEP 668).
RUN python3 -m venv /opt/venv && pip install --upgrade pip

# torch first and alone: the largest layer, rebuilt only when the pin changes.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_FIND_LINKS=
RUN if [ -n "$TORCH_FIND_LINKS" ]; then src="--find-links $TORCH_FIND_LINKS"; \
    else src="--index-url $TORCH_INDEX_URL"; fi; \
    pip install $src "torch==${TORCH_VERSION}+cpu" \
    && python -W ignore -c "import torch; assert not torch.cuda.is_available(); print('torch', torch.__version__)"

# Runtime dependencies from pyproject.toml (no dev extras; EXTRAS=qdrant adds the Qdrant backend's)
# at the versions in constraints.txt (the ones the tests passed with), cached until either changes.
WORKDIR /opt/quotebot
COPY pyproject.toml constraints.txt ./
ARG EXTRAS=
RUN EXTRAS="$EXTRAS" python -c "import os, tomllib; t = tomllib.load(open('pyproject.toml', 'rb')); \
extras = [e for e in os.environ['EXTRAS'].split(',') if e]; \
print('\n'.join(t['project']['dependencies'] + [d for e in extras for d in t['project']['optional-dependencies'][e]]))" \
    > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself, without dev extras.
COPY README.md LICENSE ./
COPY corpus ./corpus
COPY embeddings ./embeddings
COPY bot ./bot
RUN pip install --no-deps . && rm -rf build ./*.egg-info && quotebot --help >/dev/null

# The sample corpus doubles as the default content of the corpus volume.
COPY sample_corpus /data/corpus

# The model: baked in, or left to a mount / QUOTEBOT_MODEL at run time.
# A bind mount of the build context, not a COPY: the model is not stored twice in the image.
ARG MODEL=
ARG DEFAULT_MODEL=intfloat/multilingual-e5-small
RUN --mount=type=bind,target=/tmp/context set -e; \
    if [ -z "$MODEL" ]; then echo "no model baked in"; \
    elif [ -d "/tmp/context/$MODEL" ]; then cp -r "/tmp/context/$MODEL" /opt/quotebot/model; \
    else HF_HUB_OFFLINE=0 python -c "import sys; from sentence_transformers import SentenceTransformer; \
SentenceTransformer(sys.argv[1], device='cpu').save('/opt/quotebot/model')" "$MODEL"; fi; \
    if [ -d /opt/quotebot/model ]; then chmod -R a+rX /opt/quotebot/model; fi
# The baked copy when there is one, else the product default (a hub id, or mount a directory and
# set QUOTEBOT_MODEL to it).
ENV QUOTEBOT_MODEL=${MODEL:+/opt/quotebot/model}
ENV QUOTEBOT_MODEL=${QUOTEBOT_MODEL:-$DEFAULT_MODEL}

# The default encoder (QUOTEBOT_ENCODER=auto: the variant measured fastest for the CPU, docs/encoders.md)
# converts the model once into this cache; for a baked model that happens here, at build time, for the
# build machine's CPU, so a container on a like CPU starts indexing at once. A mounted model, or another
# CPU's choice, is converted on first start (mount a volume on /opt/quotebot/encoders to keep it). The
# shipped answer verifier (in the package) is converted for OpenVINO here too.
ENV QUOTEBOT_ENCODER_CACHE=/opt/quotebot/encoders
RUN mkdir -p /opt/quotebot/encoders; \
    if [ -d /opt/quotebot/model ]; then python -c "from bot.config import load_settings; \
from bot.cli.index import make_encoder; e = make_encoder(load_settings()); print('encoder', e.backend, e.precision)"; fi; \
    python -c "from bot.config import load_settings; from bot.cli.index import make_reranker; \
r = make_reranker(load_settings()); print('verifier', r.model_id if r else 'none', r.score([('问', '答')]) if r else '')"; \
    chmod -R a+rwX /opt/quotebot/encoders

RUN useradd --uid 10001 --user-group --create-home --home-dir /home/quotebot quotebot \
    && mkdir -p /data/index \
    && chown -R quotebot:quotebot /data
USER quotebot

ENV QUOTEBOT_CORPUS_DIR=/data/corpus \
    QUOTEBOT_INDEX_DIR=/data/index \
    HF_HOME=/home/quotebot/.cache/huggingface
VOLUME ["/data/corpus", "/data/index"]
WORKDIR /home/quotebot
# Webhook mode listens here (QUOTEBOT_WEBHOOK_URL); long polling needs no port. The health and metrics
# server (QUOTEBOT_OPS_LISTEN) stays on the container's loopback unless set to 0.0.0.0:8089.
EXPOSE 8443

# Healthy once `quotebot serve` answers /readyz on QUOTEBOT_OPS_LISTEN: an index is served and Telegram
# polling or the webhook runs (the first index of a large corpus takes a while). Python's urllib, no
# curl in the image; no proxy from the environment for a loopback probe. See docs/operations.md.
HEALTHCHECK --interval=60s --timeout=20s --start-period=10m --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; a = os.environ.get('QUOTEBOT_OPS_LISTEN') or '127.0.0.1:8089'; a = a.replace('0.0.0.0:', '127.0.0.1:', 1); u.build_opener(u.ProxyHandler({})).open('http://' + a + '/readyz', timeout=15)"]

# Bring the index up to date (incremental: unchanged pages are not re-embedded), then serve.
CMD ["/bin/sh", "-c", "quotebot index && exec quotebot serve"]
