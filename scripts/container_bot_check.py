"""Start the image's default CMD against the local test Bot API server and check it answers a question.

Usage (from scripts/docker-check.sh, with the repository's .venv python):
    python scripts/container_bot_check.py EXAMPLES_JSON -- podman run ... IMAGE
The container must use --network=host, so that 127.0.0.1 is this machine; the server's URL and token
are passed to it as QUOTEBOT_TELEGRAM_API_URL and QUOTEBOT_TELEGRAM_TOKEN.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.telegram_server import BotApiServer, Call

USER_ID = 4242
STARTUP_SECONDS = 240.0
ANSWER_SECONDS = 120.0


def main(argv: list[str]) -> int:
    """Run the container's bot against the test server; 0 when the example question gets its quote."""
    examples_path, separator, *podman_run = argv
    assert separator == "--" and podman_run, __doc__
    example = json.loads(Path(examples_path).read_text(encoding="utf-8"))[0]
    with BotApiServer() as server:
        *run, image = podman_run
        command = [
            *run,
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
            return 0
        except TimeoutError as exc:
            print(f"container bot: FAIL: {exc}")
            return 1
        finally:
            container.terminate()
            try:
                container.wait(timeout=30)
            except subprocess.TimeoutExpired:
                container.kill()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
