/** The tremolo client SDK: live (Socket.IO) and REST. */
export { LiveClient, TremoloClientError, type LiveClientOptions, type LiveClientEvents } from './live-client.ts';
export { HttpClient, type HttpExchange, type HttpTransport, type Session } from './http-client.ts';
export type * from '../protocol/live.ts';
export type * from '../protocol/model.ts';
export type * from '../protocol/social.ts';
export type * from '../protocol/dm.ts';
