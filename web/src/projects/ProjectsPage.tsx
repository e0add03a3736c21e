import { useSession } from '../auth/AuthProvider.js';
import { Link } from '../routing/Router.js';
import { planningPath } from '../routing/routes.js';
import { useDocumentTitle } from '../ui/useDocumentTitle.js';
import { projectCatalog } from './catalog.js';

export function ProjectsPage() {
  const { user } = useSession();
  useDocumentTitle('Projects');
  return (
    <div className="page page-narrow">
      <h1 className="page-title">Projects</h1>
      <p className="page-lead">Open a project's planning room to work on its documents, checklist and chat with the team.</p>
      <ul className="project-list">
        {projectCatalog.map((project) => (
          <li key={project.id} className="card project-card">
            <div>
              <h2 className="project-name">{project.name}</h2>
              <p className="muted">{project.description}</p>
            </div>
            <Link className="button button-primary" to={planningPath(project.id, user.role)}>
              Open planning room<span className="visually-hidden"> for {project.name}</span>
            </Link>
          </li>
        ))}
      </ul>
    </div>
  );
}
