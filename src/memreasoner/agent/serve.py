"""A minimal OpenAI-compatible chat server for a local policy (standard library only).

    python -m memreasoner.agent.serve CHECKPOINT_OR_HF_FOLDER [--host 127.0.0.1] [--port 8000]

Serves GET /v1/models and POST /v1/chat/completions (non-streaming: `messages`, `max_tokens` or
`max_completion_tokens`, `temperature`; temperature 0 is greedy). One request is generated at a
time. It lets the agent's HTTP path be exercised end to end against a model of the project's own,
and lets a policy trained here be shared over the network; for real LLMs on a GPU use vLLM.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .backends import HFPolicy
from .loop import Request


def make_server(policy: HFPolicy, name: str, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server bound to (host, port); port 0 picks a free one (see `server.server_address`)."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test and CLI output quiet
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "memreasoner"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self):
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                messages = body["messages"]
                max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 256)
                temperature = float(body.get("temperature", 1.0))
            except (ValueError, KeyError, TypeError) as err:
                self._send(400, {"error": {"message": f"bad request: {err}"}})
                return
            try:
                with lock:
                    policy.temperature = temperature if temperature > 0 else 1.0
                    reply = policy.act([Request(messages, None)], sample=temperature > 0, max_new_tokens=max_tokens)[0]
            except Exception as err:  # report it to the client, which may retry; keep serving
                self._send(500, {"error": {"message": f"{type(err).__name__}: {err}"}})
                return
            stopped = bool(reply.output_ids) and reply.output_ids[-1] in policy.eos_ids
            self._send(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                             "finish_reason": "stop" if stopped else "length"}],
                "usage": {"prompt_tokens": len(reply.prompt_ids), "completion_tokens": len(reply.output_ids),
                          "total_tokens": len(reply.prompt_ids) + len(reply.output_ids)},
            })

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = False  # server_close() waits for requests in flight: no thread outlives it
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memreasoner.agent.serve", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an agent checkpoint (config.json + policy/) or a Hugging Face model folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    folder = Path(args.model)
    policy = HFPolicy.from_path(folder / "policy" if (folder / "policy").is_dir() else folder, device=args.device)
    server = make_server(policy, folder.name, args.host, args.port)
    print(f"serving {folder} at http://{args.host}:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
