// The one WebSocket client of the visitor page and of the console: connect
// with a timeout, reconnect with backoff and jitter, follow the browser's
// online/offline and visibility events, drop a socket that stopped
// answering, and dispatch frames by their "type" to handlers set with on().
// What to say after (re)connecting (the visitor's resume, the console's
// wait for hello) is the page's: it gets onOpen().
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const CONNECT_TIMEOUT_MS = 10000;
// A sent frame that expects a reply (a message and its ack) and hears
// nothing for this long: the socket is probably dead without knowing it
// (a network that vanished never completes the close handshake).
const REPLY_TIMEOUT_MS = 10000;
export const CLOSE_SERVICE_RESTART = 1012;

export class Socket {
  // onOpen(): the socket is open. onDown(): it dropped and a retry is
  // coming. final: close codes after which retrying is pointless (e.g. the
  // visitor's 4404, the console's 4401), each with its handler.
  // prompt: close codes after which the next attempt comes at once (1012:
  // that server is restarting and another one answers).
  // awaiting(): whether a reply is still owed (see expectReply).
  constructor(path, { onOpen, onDown, final = {}, prompt = [CLOSE_SERVICE_RESTART], awaiting = () => false }) {
    this.path = path;
    this.onOpen = onOpen;
    this.onDown = onDown;
    this.final = final;
    this.prompt = new Set(prompt);
    this.awaiting = awaiting;
    this.handlers = new Map();
    this.ws = null;
    this.wanted = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.connectTimer = null;
    this.replyTimer = null;
    this.onLingerEnd = null; // set by linger()
    window.addEventListener("online", () => this.reconnectNow());
    window.addEventListener("offline", () => this.drop());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.wanted && !this.ws) this.reconnectNow();
    });
  }

  on(type, handler) {
    this.handlers.set(type, handler);
    return this;
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    this.wanted = true;
    if (!this.ws) this.open();
  }

  stop() {
    this.wanted = false;
    this.onLingerEnd = null;
    clearTimeout(this.retryTimer);
    clearTimeout(this.connectTimer);
    this.cancelReplyWait();
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
  }

  // Stop reconnecting but keep the socket as long as it lasts: after the
  // conversation closed, it still carries a receipt request (issue 16).
  // onEnd runs once if the socket closes by itself.
  linger(onEnd) {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    this.onLingerEnd = this.ws ? onEnd : null;
  }

  // The server answered the page's opening (start, resume, hello): the
  // next drop starts again from the shortest delay.
  settled() {
    this.attempt = 0;
  }

  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // (Re)arm the dead-socket check after sending, or hearing, something
  // while a reply is owed: if awaiting() still holds when the time is up,
  // the socket is dropped and a fresh one resends what waits.
  expectReply() {
    this.cancelReplyWait();
    if (!this.awaiting()) return;
    this.replyTimer = setTimeout(() => {
      if (this.awaiting()) this.drop();
    }, REPLY_TIMEOUT_MS);
  }

  cancelReplyWait() {
    clearTimeout(this.replyTimer);
    this.replyTimer = null;
  }

  // Give up on a socket that looks dead, without waiting for its close
  // handshake (a dead network never completes it), and reconnect.
  drop() {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    clearTimeout(this.connectTimer);
    this.cancelReplyWait();
    try {
      ws.close(4000);
    } catch {
      // Already closing.
    }
    if (!this.wanted) {
      this.endLinger();
      return;
    }
    this.onDown();
    this.retry();
  }

  endLinger() {
    const onEnd = this.onLingerEnd;
    this.onLingerEnd = null;
    if (onEnd) onEnd();
  }

  reconnectNow() {
    if (!this.wanted) return;
    if (this.ws && this.ws.readyState !== WebSocket.CLOSED) return;
    clearTimeout(this.retryTimer);
    this.ws = null;
    this.open();
  }

  open() {
    clearTimeout(this.retryTimer);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${location.host}${this.path}`);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    this.connectTimer = setTimeout(() => {
      if (this.ws === ws && ws.readyState === WebSocket.CONNECTING) this.drop();
    }, CONNECT_TIMEOUT_MS);
    ws.addEventListener("open", () => {
      clearTimeout(this.connectTimer);
      if (this.ws === ws) this.onOpen();
    });
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      const handler = frame && this.handlers.get(frame.type);
      if (handler) handler(frame);
    });
    ws.addEventListener("close", (event) => {
      clearTimeout(this.connectTimer);
      if (this.ws !== ws) return;
      this.ws = null;
      this.cancelReplyWait();
      const final = this.final[event.code];
      if (final) {
        this.wanted = false;
        final(event.code);
        return;
      }
      if (!this.wanted) {
        this.endLinger();
        return;
      }
      if (this.prompt.has(event.code)) this.attempt = 0;
      this.onDown();
      this.retry();
    });
  }

  retry() {
    if (!this.wanted) return;
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    // Jitter, so that many pages do not all come back at the same instant.
    const delay = base * (0.8 + Math.random() * 0.4);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }
}
