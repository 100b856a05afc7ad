"""Start the image's default CMD against the local test Bot API server and check it answers a question.

Usage (from scripts/docker-check.sh, with the repository's .venv python):
    python scripts/container_bot_check.py EXAMPLES_JSON -- podman run ... IMAGE
The container must use --network=host, so that 127.0.0.1 is this machine; the server's URL and token
are passed to it as QUOTEBOT_TELEGRAM_API_URL and QUOTEBOT_TELEGRAM_TOKEN. Once it has answered, its
/readyz and /metrics (QUOTEBOT_OPS_LISTEN on a free loopback port) are checked, and, when the run
names the container (--name), the image's HEALTHCHECK command is run inside it with `exec`.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.telegram_server import BotApiServer, Call

USER_ID = 4242
STARTUP_SECONDS = 240.0
ANSWER_SECONDS = 120.0
COUNT_SECONDS = 30.0


def main(argv: list[str]) -> int:
    """Run the container's bot against the test server; 0 when the example question gets its quote."""
    examples_path, separator, *podman_run = argv
    assert separator == "--" and podman_run, __doc__
    example = json.loads(Path(examples_path).read_text(encoding="utf-8"))[0]
    with BotApiServer() as server:
        *run, image = podman_run
        port = free_port()
        command = [
            *run,
            "-e",
            f"QUOTEBOT_OPS_LISTEN=127.0.0.1:{port}",
            "-e",
            f"QUOTEBOT_TELEGRAM_TOKEN={server.token}",
            "-e",
            f"QUOTEBOT_TELEGRAM_API_URL={server.url}",
            image,
        ]
        container = subprocess.Popen(command)
        try:
            server.wait_for("getUpdates", timeout=STARTUP_SECONDS)
            since = len(server.calls())
            server.add_text(example["question"], user_id=USER_ID, language_code="zh-hans")

            def answers(call: Call) -> bool:
                return call.params.get("chat_id") == USER_ID and example["answer"] in str(
                    call.params.get("text", "")
                )

            [reply] = server.wait_for("sendMessage", answers, timeout=ANSWER_SECONDS, since=since)
            text = str(reply.params["text"])
            if example["title"] not in text:
                print(f"container bot: FAIL: the reply does not name {example['title']!r}:\n{text}")
                return 1
            print(f"container bot: ok: {example['question']} -> {text[:120]!r}...")
            return check_health(port, podman_run)
        except TimeoutError as exc:
            print(f"container bot: FAIL: {exc}")
            return 1
        finally:
            container.terminate()
            try:
                container.wait(timeout=30)
            except subprocess.TimeoutExpired:
                container.kill()


def free_port() -> int:
    """Return a loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check_health(port: int, podman_run: list[str]) -> int:
    """Check /readyz and /metrics of the answering bot, and its image's HEALTHCHECK inside it."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    base = f"http://127.0.0.1:{port}"
    with opener.open(base + "/readyz", timeout=15) as ready:
        assert ready.status == 200, ready.status
    deadline = time.monotonic() + COUNT_SECONDS  # the bot counts the answer just after sending it
    while True:
        with opener.open(base + "/metrics", timeout=15) as scrape:
            metrics = scrape.read().decode()
        if re.search(r"^quotebot_answers_total 1\.0$", metrics, flags=re.MULTILINE):
            break
        if time.monotonic() > deadline:
            print(f"container bot: FAIL: /metrics does not count the answer within {COUNT_SECONDS:.0f} s")
            return 1
        time.sleep(0.2)
    print(f"container bot: ok: /readyz and /metrics on {base}")
    if "--name" not in podman_run:
        return 0
    podman = podman_run[: podman_run.index("run")]
    name = podman_run[podman_run.index("--name") + 1]
    dockerfile = (Path(__file__).resolve().parents[1] / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    found = re.search(r"^HEALTHCHECK .*? CMD (\[.*\])$", joined, flags=re.MULTILINE)
    assert found, "the Dockerfile has no exec-form HEALTHCHECK"
    check = [
        *podman,
        "exec",
        "-e",
        f"QUOTEBOT_OPS_LISTEN=127.0.0.1:{port}",
        name,
        *json.loads(found.group(1)),
    ]
    if subprocess.run(check).returncode != 0:
        print("container bot: FAIL: the image's HEALTHCHECK failed in the serving container")
        return 1
    print("container bot: ok: the HEALTHCHECK passes in the serving container")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
