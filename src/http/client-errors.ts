import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';

const statusText: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large', 431: 'Request Header Fields Too Large' };

/**
 * Requests Node refuses before Koa sees them (headers over the limit, malformed HTTP) still get a
 * JSON `{"error": ...}`, never an empty or HTML answer.
 */
export function answerClientErrorsWithJson(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const message = status === 431 ? 'Request headers are too large' : status === 408 ? 'Request took too long to arrive' : 'Malformed HTTP request';
    const body = JSON.stringify({ error: message });
    socket.end(
      `HTTP/1.1 ${status} ${statusText[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
