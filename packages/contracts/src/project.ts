import { z } from 'zod';
import { PROJECT_NAME_MAX, PROJECT_STATUSES } from './constants.js';
import { IsoTime, ProjectId, Role, UserId } from './ids.js';

export const ProjectStatus = z.enum(PROJECT_STATUSES);
export type ProjectStatus = z.infer<typeof ProjectStatus>;

export const ProjectMember = z.object({ user_id: UserId, username: z.string(), role: Role, avatar_url: z.string() });
export type ProjectMember = z.infer<typeof ProjectMember>;

export const ProjectInfo = z.object({
  id: ProjectId,
  name: z.string(),
  status: ProjectStatus,
  members: z.array(ProjectMember),
  created_at: IsoTime,
  updated_at: IsoTime,
});
export type ProjectInfo = z.infer<typeof ProjectInfo>;

// Client → server
export const SetProjectStatusPayload = z.strictObject({ status: ProjectStatus });
export const UpdateProjectPayload = z.strictObject({ name: z.string().trim().min(1).max(PROJECT_NAME_MAX) });
/**
 * `documents.project.create` (admins), a NATS request `{ctx, payload}` for tools and the admin side:
 * not a room event, as there is no room before the project. Creates the project and its 9 documents.
 */
export const CREATE_PROJECT_SUBJECT = 'documents.project.create';
export const CreateProjectPayload = z.strictObject({
  project_id: ProjectId,
  name: z.string().trim().min(1).max(PROJECT_NAME_MAX),
  members: z.array(ProjectMember).min(1).max(500),
});

/** `ProjectCreated` as the documents service publishes it: the part other services react to. */
export const ProjectCreatedEvent = z.object({
  type: z.literal('ProjectCreated'),
  data: z.object({ project_id: ProjectId, members: z.array(ProjectMember) }),
});

// Server → client
/** `project:updated`: the project's metadata after a change. */
export const ProjectUpdatedBroadcast = ProjectInfo.omit({ members: true }).extend({ members: z.array(ProjectMember).optional() });
/** `project:status_change`. */
export const ProjectStatusChangeBroadcast = z.object({
  project_id: ProjectId,
  status: ProjectStatus,
  previous_status: ProjectStatus,
  changed_by: z.string(),
  changed_at: IsoTime,
});

/**
 * `documents.project.membership`, `{ctx, payload: {}}` → `{role}`: the one small read a join makes
 * before anything else. The documents service owns projects and members, so it answers for
 * `ctx.user_id` in `ctx.project_id` (the token's role in `ctx` is ignored). A missing project and a
 * non-member get the same refusal, `unauthorized`, so the answer does not tell which project ids exist.
 */
export const MEMBERSHIP_SUBJECT = 'documents.project.membership';
export const MembershipReply = z.object({ role: Role });
export type MembershipReply = z.infer<typeof MembershipReply>;
/**
 * The same question for many users of one project at once (`{users: [ids]}`, at most
 * MEMBERSHIP_BATCH_MAX): the joins of a room that a gateway admitted together. Each member's role by
 * user id; anyone who is not a member is left out.
 */
export const MembershipPayload = z.object({ users: z.array(z.number().int().positive()).min(1).max(500).optional() });
export const MEMBERSHIP_BATCH_MAX = 500;
export const MembershipManyReply = z.object({ roles: z.record(z.string(), Role) });
export type MembershipManyReply = z.infer<typeof MembershipManyReply>;

/** The one refusal for "no such project" and "not a member" (joins and commands alike). */
export const NOT_A_MEMBER = { code: 'unauthorized', message: 'you are not a member of this project' } as const;

/**
 * The projects API (`/api/admin/projects`, Siteflow's backend with scope `projects:admin`): the
 * gateway checks the scope and forwards to documents on these subjects as `{by, payload}`, `by`
 * being the token's subject (who asked, recorded in the events). infra/nats lets only the gateway
 * and admin ask them.
 */
export const adminProjectSubjects = {
  create: 'documents.admin.project.create',
  update: 'documents.admin.project.update',
  putMember: 'documents.admin.member.put',
  removeMember: 'documents.admin.member.remove',
  list: 'documents.admin.project.list',
} as const;
/** `GET /api/projects`: the projects of `by.user_id` (any signed-in user, about themselves). */
export const PROJECTS_OF_USER_SUBJECT = 'documents.projects.of_user';

export const AdminCaller = z.object({ user_id: UserId, username: z.string() });
export const adminRequest = <T extends z.ZodType>(payload: T) => z.object({ by: AdminCaller, payload });

const ProjectName = z.string().trim().min(1).max(PROJECT_NAME_MAX);
const Username = z.string().trim().min(1).max(100);
/** A member as Siteflow names them; the avatar is optional (a generated one otherwise). */
export const ApiMember = z.strictObject({ user_id: UserId, username: Username, role: Role, avatar_url: z.string().max(500).optional() });
export const ApiCreateProject = z.strictObject({
  id: ProjectId.optional(),
  name: ProjectName,
  members: z.array(ApiMember).min(1).max(500),
});
export const ApiPutMember = z.strictObject({ username: Username, role: Role, avatar_url: z.string().max(500).optional() });
export const ApiPatchProject = z
  .strictObject({ name: ProjectName.optional(), status: ProjectStatus.optional() })
  .refine((p) => p.name !== undefined || p.status !== undefined, 'give name, status or both');

export const AdminUpdatePayload = z.object({ project_id: ProjectId, name: ProjectName.optional(), status: ProjectStatus.optional() });
export const AdminPutMemberPayload = z.object({ project_id: ProjectId, member: ProjectMember });
export const AdminRemoveMemberPayload = z.object({ project_id: ProjectId, user_id: UserId });
export const AdminCreatePayload = z.object({
  project_id: ProjectId.optional(),
  name: ProjectName,
  members: z.array(ProjectMember).min(1).max(500),
});

/** One entry of `GET /api/projects`. */
export const UserProject = z.object({ id: ProjectId, name: z.string(), status: ProjectStatus, role: Role, updated_at: IsoTime });
export type UserProject = z.infer<typeof UserProject>;

/** `ProjectMembershipChanged` as documents publishes it: followers apply it to their members table. */
export const ProjectMembershipChangedEvent = z.object({
  type: z.literal('ProjectMembershipChanged'),
  data: z.object({
    project_id: ProjectId,
    change: z.enum(['added', 'role_changed', 'removed']),
    user_id: UserId,
    username: z.string(),
    role: Role.nullable(),
  }),
});
