/** What every view of a signed-in page shares: the SDK clients and the user directory. */
import type { HttpClient, LiveClient, UserProfile } from '../../src/client/index.ts';
import type { People } from './people.ts';

export interface AppContext {
  readonly http: HttpClient;
  readonly live: LiveClient;
  readonly people: People;
  readonly me: UserProfile;
  /** Opens the chat panel on a conversation with `userId` (a new one starts with the first message). */
  messageUser(userId: string): void;
}
