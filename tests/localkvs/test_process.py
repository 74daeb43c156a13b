"""The endpoint as its own process (`kvs-studio local-endpoint`): ready line, crash safety, restart."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REGION, TEST_KEYS, client, signing_credentials
from tests.localkvs.helpers import EndpointProcess
from tests.mediagen import count_frames, make_mkv
from tests.putmedia_client import sign_put_media


@pytest.fixture
def procs() -> Iterator[list[EndpointProcess]]:
    started: list[EndpointProcess] = []
    yield started
    for p in started:
        if p.proc.poll() is None:
            p.kill()


def test_kill_mid_fragment_leaves_only_whole_fragments(tmp_path: Path, procs: list[EndpointProcess]) -> None:
    data_dir = tmp_path / "d"
    ep = EndpointProcess(data_dir)
    procs.append(ep)
    assert ep.ready["access_key_id"] == TEST_KEYS.access_key
    assert TEST_KEYS.secret_key not in json.dumps(ep.ready)
    client("kinesisvideo", ep.url).create_stream(StreamName="crash", DataRetentionInHours=1)
    body = make_mkv(45)  # 3 fragments; send 2 and a half, then the process dies
    cut = len(body) * 5 // 6
    head = sign_put_media(ep.url, "crash", signing_credentials(), REGION, relative=True, start_timestamp=time.time())
    host, port = ep.url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(("POST /putMedia HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head)
                  + "Transfer-Encoding: chunked\r\n\r\n").encode() + b"%x\r\n%s\r\n" % (cut, body[:cut]))
    received = b""
    while received.count(b'"PERSISTED"') < 2:
        piece = sock.recv(4096)
        assert piece, "connection closed early"
        received += piece
    ep.kill()
    sock.close()

    ep2 = EndpointProcess(data_dir)
    procs.append(ep2)
    archived = client("kinesis-video-archived-media", ep2.url)
    frags = archived.list_fragments(StreamName="crash")["Fragments"]
    assert len(frags) == 2
    media = archived.get_media_for_fragment_list(StreamName="crash", Fragments=[f["FragmentNumber"] for f in frags])
    assert count_frames(media["Payload"].read()) == 30
    leftovers = [p for p in (data_dir / "fragments").rglob("*") if p.is_file()]
    assert len(leftovers) == 2  # no half-written file survives the restart
    assert ep2.terminate() == 0


def test_fault_switch_at_start_and_generated_keys(tmp_path: Path, procs: list[EndpointProcess]) -> None:
    ep = EndpointProcess(tmp_path / "d", "--fault", "refuse_connections=1", "--fault", "refuse_status=403",
                         "--fault", "error_ack=4501:1", "--fault", "error_5000=2")
    procs.append(ep)
    client("kinesisvideo", ep.url).create_stream(StreamName="f", DataRetentionInHours=1)
    from tests.localkvs.helpers import put_media

    assert put_media(ep.url, "f", make_mkv(15)).status == 403
    assert put_media(ep.url, "f", make_mkv(15), read_timeout=5).events("ERROR")[0]["ErrorId"] == 4501
    assert put_media(ep.url, "f", make_mkv(15), read_timeout=5).events("ERROR")[0]["ErrorId"] == 5000
    assert len(put_media(ep.url, "f", make_mkv(15)).events("PERSISTED")) == 1

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    gen = subprocess.Popen([sys.executable, "-m", "app", "local-endpoint", "--port", "0", "--data-dir",
                            str(tmp_path / "g")], stdout=subprocess.PIPE, text=True, env=env)
    assert gen.stdout is not None
    lines = []
    for line in gen.stdout:
        lines.append(line)
        if line.startswith("{"):
            break
    gen.terminate()
    gen.wait(10)
    text = "".join(lines)
    assert "export AWS_ACCESS_KEY_ID=LOCAL" in text
    assert "export AWS_SECRET_ACCESS_KEY=" in text


def test_bad_fault_switch_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "app", "local-endpoint", "--port", "0", "--data-dir",
                           str(tmp_path), "--fault", "explode=1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "unknown fault switch" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "app", "local-endpoint", "--port", "0", "--data-dir",
                           str(tmp_path), "--fault", "error_ack=4501"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "write error_ack=ERRORID:n[,n...]" in proc.stderr


def test_storage_and_creating_options(tmp_path: Path, procs: list[EndpointProcess]) -> None:
    ep = EndpointProcess(tmp_path / "d", "--max-disk-mb", "64", "--creating-seconds", "30")
    procs.append(ep)
    assert ep.banner[0].endswith(f"data in {tmp_path / 'd'} (at most 64 MB, oldest fragments deleted first)")
    kv = client("kinesisvideo", ep.url)
    kv.create_stream(StreamName="c")
    assert kv.describe_stream(StreamName="c")["StreamInfo"]["Status"] == "CREATING"
    assert ep.terminate() == 0
    uncapped = EndpointProcess(tmp_path / "d", "--max-disk-mb", "0")
    procs.append(uncapped)
    assert uncapped.banner[0].endswith("(no size cap)")
    assert uncapped.terminate() == 0
    for option in ("--max-disk-mb", "--creating-seconds"):
        proc = subprocess.run([sys.executable, "-m", "app", "local-endpoint", "--port", "0", "--data-dir",
                               str(tmp_path / "e"), option, "-1"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2
        assert f"{option}: -1 is negative" in proc.stderr.replace("argument ", "")
