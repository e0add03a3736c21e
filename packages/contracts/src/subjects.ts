/**
 * NATS subjects. Commands are `<service>.<area>.<verb>` request/reply subjects served by a queue
 * group named after the service. Projections are published per project (or per user):
 *
 *   project.<project_id>.ev.<service>.<EventType>    stored events (JetStream, de-duplicated)
 *   project.<project_id>.eph.<service>.<name>        ephemeral broadcasts (core NATS, never stored)
 *   user.<user_id>.ev.<service>.<EventType>          one user's notifications (stored)
 *   user.<user_id>.eph.<service>.<name>
 *   project.<project_id>.now.<service>.<EventType>   the same stored event, published by the service
 *   user.<user_id>.now.<service>.<EventType>         right after its commit (core NATS): the fast copy
 *
 * A fast copy is an optimisation of latency, never the record: the relay's copy on `ev` follows
 * whatever happens, and a gateway delivers a fast copy only as the next version of a stream its
 * room has already heard (docs/consistency.md, rule 10).
 *
 * The gateway subscribes to `project.<id>.>` while a socket has joined that project.
 */
export const SERVICES = ['chat', 'documents', 'presence', 'checklist'] as const;
export type ServiceName = (typeof SERVICES)[number];

export const subjects = {
  health: (service: ServiceName) => `${service}.health`,
  snapshot: (service: ServiceName) => `${service}.snapshot`,
  projectEvent: (projectId: number, service: ServiceName, type: string) => `project.${projectId}.ev.${service}.${type}`,
  projectEphemeral: (projectId: number, service: ServiceName, name: string) => `project.${projectId}.eph.${service}.${name}`,
  userEvent: (userId: number, service: ServiceName, type: string) => `user.${userId}.ev.${service}.${type}`,
  userEphemeral: (userId: number, service: ServiceName, name: string) => `user.${userId}.eph.${service}.${name}`,
  /** The subject of a stored event's fast copy: `<scope>.<id>.ev.<rest>` with `now` for `ev`. */
  fastCopy: (eventSubject: string) => eventSubject.replace(/^(project|user)\.([^.]+)\.ev\./, '$1.$2.now.'),
  projectAll: (projectId: number) => `project.${projectId}.>`,
  userAll: (userId: number) => `user.${userId}.>`,
  /** A connection closed (socket gone), `ConnectionClosedNotice`: services release what the connection held. */
  connectionClosed: 'gateway.connection.closed',
} as const;

/** The JetStream stream holding one service's events. */
export function streamFor(service: ServiceName): { name: string; subjects: string[] } {
  return {
    name: `EVENTS_${service.toUpperCase()}`,
    subjects: [`project.*.ev.${service}.>`, `user.*.ev.${service}.>`],
  };
}
