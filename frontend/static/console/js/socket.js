// One socket for the console page: connect, reconnect with backoff and
// jitter, dispatch on the server's frame types (docs/protocol.md, staff endpoint).

export const CLOSE_NOT_LOGGED_IN = 4401;
export const CLOSE_NOT_ALLOWED = 4403;
export const CLOSE_ACCOUNT_CHANGED = 4409;
export const CLOSE_SERVICE_RESTART = 1012;

export class ConsoleSocket {
  constructor(path, { onFrame, onOpen, onDown, onRefused }) {
    this.path = path;
    this.onFrame = onFrame;
    this.onOpen = onOpen;
    this.onDown = onDown;
    this.onRefused = onRefused;
    this.backoff = 500;
    this.ws = null;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}${this.path}`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.backoff = 500;
      this.onOpen();
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (event.code === CLOSE_NOT_LOGGED_IN || event.code === CLOSE_NOT_ALLOWED) {
        this.onRefused(event.code);
        return;
      }
      this.onDown();
      // 1012: that server is restarting; 4409: the account changed. Come
      // back at once (with jitter), to another process if need be.
      if (event.code === CLOSE_SERVICE_RESTART || event.code === CLOSE_ACCOUNT_CHANGED) {
        this.backoff = 500;
      }
      const delay = this.backoff * (0.75 + Math.random() / 2);
      this.backoff = Math.min(this.backoff * 2, 15000);
      setTimeout(() => this.connect(), delay);
    });
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  send(frame) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }
}
