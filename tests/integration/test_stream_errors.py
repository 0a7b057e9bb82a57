"""Bad XML ends only the offending connection, with the right stream error,
while other clients keep chatting."""

import asyncio
import contextlib

import pytest

from clients import RawClosed, RawStream, stream_error_condition
from conftest import PASSWORD


@contextlib.asynccontextmanager
async def chatting(cluster, users, client):
    """Two logged-in clients exchanging messages every 20 ms for as long as
    the block runs; on exit, every message must have arrived once and in
    order, and a few must have flowed after the block's work was done."""
    a = await client(users.add("chat")).login()
    b = await client(users.add("chat")).login()
    stop = asyncio.Event()
    sent = []

    async def pump():
        i = 0
        while not stop.is_set():
            a.send_message(b.jid, f"tick {i}", mid=f"t{i}")
            sent.append(i)
            i += 1
            await asyncio.sleep(0.02)

    task = asyncio.create_task(pump())
    try:
        yield
        n = len(sent)
        await asyncio.sleep(0.2)      # keep ticking a little after the bad connection
        assert len(sent) > n, "the chat pump stalled"
    finally:
        stop.set()
        await task
    for i in sent:
        m = await b.next_message(timeout=15)
        assert (m["body"], str(m["from"]), m["id"]) == (f"tick {i}", a.jid, f"t{i}"), str(m)
    assert b.messages.empty()


def expect_stream_error(s, conditions):
    """The next element is a stream error with one of `conditions` (a name
    or a tuple of names), and then the server closes the connection."""
    if isinstance(conditions, str):
        conditions = (conditions,)
    try:
        el = s.next()
    except RawClosed:
        pytest.fail(f"connection closed without a {conditions} stream error")
    assert stream_error_condition(el) in conditions, f"got {el.tag} {[c.tag for c in el]}"
    s.wait_closed()


def pre_tls(cluster, users):
    s = RawStream(cluster.port)
    s.open()
    s.features()
    return s


def logged_in(cluster, users):
    s = RawStream(cluster.port)
    user = users.add("raw")
    s.login(cluster.cert, user.split("@")[0], PASSWORD)
    return s


CASES = {
    # name: (connection setup, bytes to send, expected stream error)
    "malformed-pre-tls": (pre_tls, "<message><body>oops</message>", "not-well-formed"),
    "malformed-logged-in": (logged_in, "<message to='x@localhost'><body>oops</body></mesage>",
                            "not-well-formed"),
    "bad-utf8-logged-in": (logged_in, b"<message><body>\xff\xfe</body></message>",
                           ("not-well-formed", "unsupported-encoding")),
    "comment-logged-in": (logged_in, "<!-- a comment -->", "restricted-xml"),
    "pi-logged-in": (logged_in, "<?evil processing instruction?>", "restricted-xml"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_xml_closes_only_that_connection(case, cluster, users, client, arun):
    setup, data, condition = CASES[case]

    async def body():
        async with chatting(cluster, users, client):
            def bad():
                s = setup(cluster, users)
                try:
                    s.send(data)
                    expect_stream_error(s, condition)
                finally:
                    s.close()
            await asyncio.to_thread(bad)

    arun(body())


DOCTYPE = "<!DOCTYPE stream:stream [<!ENTITY boom 'boom'>]>"


@pytest.mark.parametrize("when", ["initial-stream", "after-starttls"])
def test_doctype_is_restricted_xml(when, cluster, users, client, arun):
    async def body():
        async with chatting(cluster, users, client):
            def bad():
                s = RawStream(cluster.port)
                try:
                    if when == "after-starttls":
                        s.open()
                        s.features()
                        s.starttls(cluster.cert, restart=False)
                    s.open(cluster.domain, prolog=DOCTYPE)
                    expect_stream_error(s, "restricted-xml")
                finally:
                    s.close()
            await asyncio.to_thread(bad)

    arun(body())


def test_oversized_stanza_is_policy_violation(cluster, users, client, arun):
    async def body():
        async with chatting(cluster, users, client):
            def bad():
                s = logged_in(cluster, users)
                try:
                    s.send_until_closed("<message to='x@localhost'><body>" + "x" * 300000 +
                                        "</body></message>")
                    expect_stream_error(s, "policy-violation")
                finally:
                    s.close()
            await asyncio.to_thread(bad)

    arun(body())
