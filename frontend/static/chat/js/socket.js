// The page's one WebSocket: connect, reconnect with backoff, dispatch frames
// by their "type" to the handlers registered with on().
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const CONNECT_TIMEOUT_MS = 10000;
export const CLOSE_NOT_FOUND = 4404;
export const CLOSE_SERVICE_RESTART = 1012;

export class ChatSocket {
  constructor(path, { onOpen, onDown, onGone }) {
    this.path = path;
    this.onOpen = onOpen;
    this.onDown = onDown;
    this.onGone = onGone;
    this.handlers = new Map();
    this.ws = null;
    this.wanted = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.connectTimer = null;
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

  // The server answered start or resume: the next drop starts from 500 ms.
  settled() {
    this.attempt = 0;
  }

  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // Give up on a socket that looks dead, without waiting for its close
  // handshake (a dead network never completes it), and reconnect.
  drop() {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    clearTimeout(this.connectTimer);
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
      if (event.code === CLOSE_NOT_FOUND) {
        this.wanted = false;
        this.onGone();
        return;
      }
      if (!this.wanted) {
        this.endLinger();
        return;
      }
      // 1012: that server is restarting; another one answers at once.
      if (event.code === CLOSE_SERVICE_RESTART) this.attempt = 0;
      this.onDown();
      this.retry();
    });
  }

  retry() {
    if (!this.wanted) return;
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    // Jitter, so that many visitors do not all come back at the same instant.
    const delay = base * (0.8 + Math.random() * 0.4);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }
}
