/**
 * A client whose Socket.IO parser is not the server's (JSON text frames against
 * SOCKET_PARSER=msgpack, or msgpack binary frames against json) cannot decode anything the
 * server says, and Socket.IO's own answer is to drop the connection: the client then
 * reconnects quietly until its timeout, about 30 s, with no reason given. Its first frame (the
 * CONNECT packet) tells which parser it speaks, so we answer in that parser with a
 * CONNECT_ERROR naming the mismatch: every Socket.IO client surfaces that at once as
 * `connect_error` (message, and `data.code` = E_PARSER_MISMATCH) and does not retry.
 */
import { Packr } from 'msgpackr';
import { ERROR_CATALOG } from '../../protocol/errors.ts';

type Parser = 'json' | 'msgpack';

/** The part of an engine.io socket this needs. */
interface EngineSocket {
  prependOnceListener(event: 'data', listener: (data: string | Buffer) => void): unknown;
  write(data: string | Buffer): unknown;
}

const CONNECT_ERROR = 4; // Socket.IO packet type
const packr = new Packr({ useRecords: false });

function mismatchError(server: Parser): { message: string; data: { code: 'E_PARSER_MISMATCH' } } {
  const hint = server === 'msgpack' ? 'use a msgpack parser such as socket.io-msgpack-parser' : 'use the default (JSON) parser';
  return { message: `${ERROR_CATALOG.E_PARSER_MISMATCH.message}: this server speaks ${server}; ${hint}`, data: { code: 'E_PARSER_MISMATCH' } };
}

/** The namespace a JSON CONNECT packet (`0/nsp,{...}` or `0{...}`) asks for. */
function jsonNamespace(frame: string): string {
  if (frame[1] !== '/') return '/';
  const comma = frame.indexOf(',');
  return comma === -1 ? frame.slice(1) : frame.slice(1, comma);
}

/**
 * Watches the first frame of every engine.io connection and, when it is in the other
 * parser's format, writes a CONNECT_ERROR in that format. Socket.IO's decoder fails on the
 * same frame right after and closes the connection, which first flushes our packet. Our
 * listener is prepended so it writes while the connection is still open.
 */
export function answerParserMismatch(server: Parser): (conn: EngineSocket) => void {
  return (conn) => {
    conn.prependOnceListener('data', (frame) => {
      const client: Parser = typeof frame === 'string' ? 'json' : 'msgpack';
      if (client === server) return;
      const err = mismatchError(server);
      if (client === 'json') {
        const nsp = jsonNamespace(frame as string);
        conn.write(`${CONNECT_ERROR}${nsp === '/' ? '' : `${nsp},`}${JSON.stringify(err)}`);
      } else {
        conn.write(packr.pack({ type: CONNECT_ERROR, nsp: '/', data: err }));
      }
    });
  };
}
