"""XMPP clients for the integration tests.

- run(coro, timeout): run one async test body in a fresh event loop with an
  overall time limit (pytest-asyncio is not needed).
- Client: a slixmpp ClientXMPP that connects to 127.0.0.1:<port>, requires
  STARTTLS, trusts the cluster's self-signed certificate (hostname checked
  against the domain), logs in with a chosen SASL mechanism and exposes
  what it receives through asyncio queues.
- RawStream: a plain socket speaking XMPP by hand (optionally upgraded with
  STARTTLS) for tests that need exact bytes: features, stream errors,
  malformed input.
"""

import asyncio
import base64
import copy
import logging
import select
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

NS_CLIENT = "jabber:client"
NS_STREAM = "http://etherx.jabber.org/streams"
NS_STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZA_ERR = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_ROSTER = "jabber:iq:roster"
NS_PING = "urn:xmpp:ping"

log = logging.getLogger("xmpp-tests")


def q(ns, tag):
    return "{%s}%s" % (ns, tag)


def run(coro, timeout=120):
    """Run coro to completion with a time limit, in a new event loop."""
    async def limited():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(limited())


async def get(queue, timeout=10.0, what="an item"):
    """queue.get() with a time limit and a readable failure."""
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


class LoginFailed(Exception):
    """Login did not complete. condition is the SASL failure condition
    (e.g. 'not-authorized') when the server sent one, else None."""

    def __init__(self, msg, condition=None, failure=None):
        super().__init__(msg)
        self.condition = condition
        self.failure = failure      # the <failure/> element, when there was one


class Client:
    """One slixmpp client. After `await login()`, `jid` is the bound full JID
    and the queues fill with what arrives:
      messages       every <message/> (including type='error')
      stream_errors  <stream:error/> elements
      inbox          every <message/>, <presence/> and <iq/> in arrival
                     order, as copies of the raw ElementTree elements taken
                     before slixmpp touches them; answers to this client's
                     own iq() requests are left out
    slixmpp's automatic answers to subscription requests are turned off
    (auto_authorize=None, auto_subscribe=False): tests answer by hand.
    """

    def __init__(self, cluster, jid, password, mech="SCRAM-SHA-256"):
        self.cluster = cluster
        self.requested = jid
        self.xmpp = slixmpp.ClientXMPP(jid, password, sasl_mech=mech)
        self.xmpp.whitespace_keepalive = False
        self.xmpp.ca_certs = Path(cluster.cert)
        self.messages = asyncio.Queue()
        self.stream_errors = asyncio.Queue()
        self.inbox = asyncio.Queue()
        self._own_iq_ids = set()
        self.jid = None
        self._session = asyncio.get_running_loop().create_future()
        self._session.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._failure = None
        self.tls_version = None
        x = self.xmpp
        x.exception = lambda e: log.error("exception in a slixmpp handler of %s", jid, exc_info=e)
        x.auto_authorize = None
        x.auto_subscribe = False
        x.incoming_filter = self._capture
        x.register_handler(Callback("all messages", StanzaPath("message"),
                                    lambda m: self.messages.put_nowait(m)))
        x.register_handler(Callback("iq errors while logging in", StanzaPath("iq@type=error"),
                                    self._on_iq_error))
        x.add_event_handler("session_start", self._on_session)
        x.add_event_handler("failed_auth", self._on_failed_auth)
        x.add_event_handler("failed_all_auth", lambda _e: self._fail("no SASL mechanism left"))
        x.add_event_handler("no_auth", lambda _e: self._fail(f"server does not offer {mech}"))
        x.add_event_handler("stream_error", lambda e: self.stream_errors.put_nowait(e.xml))
        x.add_event_handler("disconnected", lambda _e: self._fail("disconnected"))
        x.add_event_handler("connection_failed", lambda e: self._fail(f"connection failed: {e}"))

    _INBOX_TAGS = ("{jabber:client}message", "{jabber:client}presence", "{jabber:client}iq")

    def _capture(self, xml):
        if self.jid is not None and xml.tag in self._INBOX_TAGS:
            if not (xml.tag == self._INBOX_TAGS[2] and xml.get("type") in ("result", "error")
                    and xml.get("id") in self._own_iq_ids):
                self.inbox.put_nowait(copy.deepcopy(xml))
        return xml

    def _on_session(self, _event):
        self.jid = str(self.xmpp.boundjid)
        ssl_obj = self.xmpp.transport.get_extra_info("ssl_object") if self.xmpp.transport else None
        self.tls_version = ssl_obj.version() if ssl_obj else None
        if not self._session.done():
            self._session.set_result(True)

    def _on_iq_error(self, iq):
        if not self._session.done():     # bind or session establishment refused
            self._fail(f"login of {self.requested} got an error: {iq}")

    def _on_failed_auth(self, failure):
        self._failure = failure
        cond = failure["condition"]
        self._fail(f"SASL failure: {cond}", cond, failure.xml)

    def _fail(self, msg, condition=None, failure=None):
        if not self._session.done():
            self._session.set_exception(LoginFailed(msg, condition, failure))

    async def login(self, timeout=20.0):
        """Connect (STARTTLS required), authenticate, bind. Returns self.
        Raises LoginFailed (with .condition for SASL failures)."""
        self.xmpp.connect(("127.0.0.1", self.cluster.port), force_starttls=True)
        try:
            await asyncio.wait_for(asyncio.shield(self._session), timeout)
        except asyncio.TimeoutError:
            self.abort()
            raise LoginFailed(f"login of {self.requested} did not finish in {timeout}s") from None
        except LoginFailed:
            self.abort()
            raise
        return self

    @property
    def connected(self):
        return self.xmpp.transport is not None

    async def close(self, timeout=5.0):
        if self.xmpp.transport is None:
            self.xmpp.cancel_connection_attempt()
            return
        try:
            await asyncio.wait_for(self.xmpp.disconnect(wait=timeout), timeout + 1)
        except (asyncio.TimeoutError, Exception):
            self.abort()

    def abort(self):
        """Drop the connection at once (no closing handshake)."""
        self.xmpp.cancel_connection_attempt()
        transport = self.xmpp.transport
        if transport is not None:
            try:
                transport.abort()
            except Exception:   # asyncio's SSL transport may be half torn down
                pass

    async def wait_disconnected(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while self.xmpp.transport is not None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.jid} still connected after {timeout}s")
            await asyncio.sleep(0.02)

    def send_raw(self, data):
        self.xmpp.send_raw(data)

    def send_message(self, to, body, mid=None, mtype="chat"):
        m = self.xmpp.make_message(mto=to, mbody=body, mtype=mtype)
        if mid is not None:
            m["id"] = mid
        m.send()

    async def next_message(self, timeout=10.0):
        return await get(self.messages, timeout, f"a message to {self.jid}")

    async def iq(self, itype, payload_xml, to=None, timeout=10.0):
        """Send an IQ with the given payload (an XML string, or None) and
        return the response as an ElementTree element (result or error)."""
        iq = self.xmpp.Iq()
        iq["type"] = itype
        if to is not None:
            iq["to"] = to
        if payload_xml is not None:
            iq.xml.append(ET.fromstring(payload_xml))
        self._own_iq_ids.add(iq["id"])
        try:
            resp = await iq.send(timeout=timeout)
        except IqError as e:
            resp = e.iq
        except IqTimeout:
            raise AssertionError(f"no answer to iq {payload_xml!r} within {timeout}s") from None
        return resp.xml


class RawClosed(Exception):
    pass


class RawStream:
    """A hand-driven XMPP client stream over a socket. Elements arrive as
    ElementTree elements with namespaced tags ({ns}tag)."""

    XML_DECL = "<?xml version='1.0'?>"
    HEADER = ("<stream:stream xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams' to='{to}' version='1.0'>")

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.eof = False
        self._reset()

    def _reset(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.header = None          # the server's <stream:stream> element
        self.stream_closed = False  # the server sent </stream:stream>
        self.pending = []

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def send_until_closed(self, data, chunk=4096):
        """Send data in chunks, stopping early (without an exception) once
        the server has answered something or closed the connection."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        for i in range(0, len(data), chunk):
            try:
                self.sock.sendall(data[i:i + chunk])
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                return
            if select.select([self.sock], [], [], 0)[0]:
                return

    def _pump(self, deadline):
        """Read one chunk (or note EOF) and parse it."""
        if self.eof:
            raise RawClosed("connection closed")
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("timed out waiting for data from the server") from None
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            raise RawClosed("connection closed")
        if self.stream_closed:
            return
        self.parser.feed(data)
        for event, el in self.parser.read_events():
            if event == "start":
                if self.depth == 0:
                    self.header = el
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.pending.append(el)
                    self.header.remove(el)
                elif self.depth == 0:
                    if el.tag == q(NS_STREAM, "stream"):
                        self.stream_closed = True
                    else:       # a top-level element without a stream header
                        self.pending.append(el)
                        self.stream_closed = True
                    return

    def open(self, to="localhost", prolog=""):
        """Send an XML declaration, prolog (e.g. a DOCTYPE) and a stream
        header, and wait for the server's header. Returns the header element."""
        self._reset()
        self.send(self.XML_DECL + prolog + self.HEADER.format(to=to))
        return self.read_header()

    def read_header(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while self.header is None:
            self._pump(deadline)
        return self.header

    def next(self, timeout=None):
        """The next top-level element from the server."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.pending:
            if self.stream_closed:
                raise RawClosed("the server closed the stream")
            self._pump(deadline)
        return self.pending.pop(0)

    def features(self):
        el = self.next()
        assert el.tag == q(NS_STREAM, "features"), f"expected stream features, got {ET.tostring(el)!r}"
        return el

    def wait_closed(self, timeout=None):
        """Read (and keep) whatever still comes until the server closes the
        TCP connection. Raises AssertionError if it stays open."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                self._pump(deadline)
            except RawClosed:
                return

    def starttls(self, cafile, server_hostname="localhost", restart=True):
        """<starttls/> -> <proceed/>, TLS handshake (certificate verified
        against cafile), then (if restart) a new stream. Returns the
        features after TLS (None without restart)."""
        self.send(f"<starttls xmlns='{NS_TLS}'/>")
        el = self.next()
        assert el.tag == q(NS_TLS, "proceed"), f"expected <proceed/>, got {ET.tostring(el)!r}"
        ctx = ssl.create_default_context(cafile=str(cafile))
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        if not restart:
            return None
        self.open()
        return self.features()

    def auth_plain(self, user, password):
        """SASL PLAIN; returns the <success/> or <failure/> element."""
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{token}</auth>")
        return self.next()

    def login(self, cafile, user, password, resource="raw"):
        """STARTTLS, PLAIN, stream restart, bind. Returns the bound full JID."""
        self.open()
        self.features()
        self.starttls(cafile)
        res = self.auth_plain(user, password)
        assert res.tag == q(NS_SASL, "success"), f"PLAIN login failed: {ET.tostring(res)!r}"
        self.open()
        self.features()
        self.send(f"<iq type='set' id='bind1'><bind xmlns='{NS_BIND}'>"
                  f"<resource>{resource}</resource></bind></iq>")
        el = self.next()
        assert el.tag == q(NS_CLIENT, "iq") and el.get("type") == "result", ET.tostring(el)
        jid = el.find(f"{q(NS_BIND, 'bind')}/{q(NS_BIND, 'jid')}")
        assert jid is not None, ET.tostring(el)
        return jid.text


def stream_error_condition(el):
    """The condition name of a <stream:error/> element (None if el is not one)."""
    if el.tag != q(NS_STREAM, "error"):
        return None
    for child in el:
        if child.tag.startswith("{%s}" % NS_STREAMS_ERR) and child.tag != q(NS_STREAMS_ERR, "text"):
            return child.tag.split("}", 1)[1]
    return None


def stanza_error(el):
    """(type, condition) of the <error/> child of a stanza, or (None, None)."""
    err = el.find(q(NS_CLIENT, "error"))
    if err is None:
        return None, None
    for child in err:
        if child.tag.startswith("{%s}" % NS_STANZA_ERR) and child.tag != q(NS_STANZA_ERR, "text"):
            return err.get("type"), child.tag.split("}", 1)[1]
    return err.get("type"), None
