/**
 * A Socket.IO parser that speaks MessagePack (msgpackr), wire-compatible with
 * socket.io-msgpack-parser clients: each packet is one binary frame holding the packet
 * object `{ type, nsp, data?, id? }`. Used by the server (SOCKET_PARSER=msgpack) and the
 * client SDK alike. Malformed frames are refused (the connection closes), never crash.
 */
import { EventEmitter } from 'node:events';
import { Packr } from 'msgpackr';

interface Packet {
  type: number;
  nsp: string;
  data?: unknown;
  id?: number;
}

// Records off: plain maps, so other msgpack implementations can read the frames.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

class Encoder {
  encode(packet: Packet): Uint8Array[] {
    // leave out undefined fields: some peers reject explicit nil for id/data
    const out: Packet = { type: packet.type, nsp: packet.nsp };
    if (packet.data !== undefined) out.data = packet.data;
    if (packet.id !== undefined) out.id = packet.id;
    return [packr.pack(out)];
  }
}

class Decoder extends EventEmitter {
  add(chunk: unknown): void {
    if (typeof chunk === 'string') throw new Error('msgpack parser: expected a binary frame');
    const packet = packr.unpack(chunk as Uint8Array) as Packet;
    if (!isPacket(packet)) throw new Error('msgpack parser: invalid packet');
    this.emit('decoded', packet);
  }

  destroy(): void {
    this.removeAllListeners();
  }
}

function isPacket(p: unknown): p is Packet {
  if (typeof p !== 'object' || p === null) return false;
  const { type, nsp, data, id } = p as Packet;
  if (!Number.isInteger(type) || type < 0 || type > 6) return false;
  if (typeof nsp !== 'string') return false;
  if (id !== undefined && !Number.isInteger(id)) return false;
  if (type === 2 || type === 3 || type === 5 || type === 6) return Array.isArray(data);
  if (type === 4) return data === undefined || typeof data === 'object';
  return data === undefined || typeof data === 'object';
}

export const msgpackParser = { protocol: 5, Encoder, Decoder };
