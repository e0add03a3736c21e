import { useEffect, useState } from 'react';
import type { UserProject } from '@siteflow/contracts';
import { useAuth, useSession } from '../auth/AuthProvider.js';
import { Link } from '../routing/Router.js';
import { planningPath } from '../routing/routes.js';
import { useDocumentTitle } from '../ui/useDocumentTitle.js';
import { fetchProjectList, ProjectListError, statusLabel } from './projectList.js';

type ListState = { kind: 'loading' } | { kind: 'loaded'; projects: UserProject[] } | { kind: 'failed'; message: string };

export function ProjectsPage() {
  const { token } = useSession();
  const { signOut } = useAuth();
  useDocumentTitle('Projects');
  // Each attempt (the first, each "Try again", a new token) is a read of its own: its outcome is
  // kept with the attempt, so an attempt without one is loading (nothing is set in the effect itself).
  const [attempt, setAttempt] = useState(0);
  const [outcome, setOutcome] = useState<{ token: string; attempt: number; list: ListState } | null>(null);
  useEffect(() => {
    let current = true;
    const settle = (list: ListState) => {
      if (current) setOutcome({ token, attempt, list });
    };
    fetchProjectList(token).then(
      (projects) => {
        settle({ kind: 'loaded', projects });
      },
      (err: unknown) => {
        if (!current) return;
        if (err instanceof ProjectListError && err.signedOut) {
          signOut();
          return;
        }
        settle({ kind: 'failed', message: err instanceof Error ? err.message : String(err) });
      },
    );
    return () => {
      current = false;
    };
  }, [token, signOut, attempt]);
  const state: ListState = outcome?.token === token && outcome.attempt === attempt ? outcome.list : { kind: 'loading' };

  return (
    <div className="page page-narrow">
      <h1 className="page-title">Projects</h1>
      <p className="page-lead">Open a project's planning room to work on its documents, checklist and chat with the team.</p>
      {state.kind === 'loading' && (
        <p className="muted" role="status">
          Loading your projects…
        </p>
      )}
      {state.kind === 'failed' && (
        <div role="alert" className="card">
          <p>{state.message}</p>
          <button
            type="button"
            className="button"
            onClick={() => {
              setAttempt((n) => n + 1);
            }}
          >
            Try again
          </button>
        </div>
      )}
      {state.kind === 'loaded' && state.projects.length === 0 && (
        <p className="muted">You are not a member of any project yet. Ask the project's owner in Siteflow to add you.</p>
      )}
      {state.kind === 'loaded' && state.projects.length > 0 && (
        <ul className="project-list">
          {state.projects.map((project) => (
            <li key={project.id} className="card project-card">
              <div>
                <h2 className="project-name">{project.name}</h2>
                <p className="muted">
                  {statusLabel(project.status)} · {project.role === 'admin' ? 'Admin' : 'Customer'}
                </p>
              </div>
              <Link className="button button-primary" to={planningPath(project.id, project.role)}>
                Open planning room<span className="visually-hidden"> for {project.name}</span>
              </Link>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
