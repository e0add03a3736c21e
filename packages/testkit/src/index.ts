export { startSiteflow, SERVICES, type Siteflow, type SiteflowOptions, type PartHandle } from './system.js';
export {
  provideInfrastructure,
  probeContainerRuntime,
  DEFAULT_IMAGES,
  type ContainerImages,
  type ContainerRuntimeProbe,
  type Infrastructure,
  type InfrastructureOptions,
  type InfrastructureSource,
} from './infrastructure.js';
export {
  installedServiceCommand,
  type PartCommand,
  type ServiceLocation,
  type SiteflowPartName,
  type SiteflowService,
} from './processes.js';
export {
  Identities,
  type BrowserContextLike,
  type BrowserSession,
  type ProjectOptions,
  type TestProject,
  type TestUser,
  type TokenOptions,
} from './identities.js';
export { RealtimeClient, RealtimeError, type JoinedTopic, type PresenceView, type RealtimeOptions, type SeenFrame } from './realtime.js';
export type { KnownPushReplies, PushOutcome, PushPayload, PushReply } from './replies.js';
export type { RoomSnapshot, ErrorCode, ProjectMember, Role } from '@siteflow/contracts';
