import { Link } from '../routing/Router.js';
import { useDocumentTitle } from '../ui/useDocumentTitle.js';

export function NotFoundPage() {
  useDocumentTitle('Not found');
  return (
    <div className="page page-narrow">
      <h1 className="page-title">Page not found</h1>
      <p className="page-lead">There is nothing at this address.</p>
      <Link className="button" to="/projects">
        Go to your projects
      </Link>
    </div>
  );
}
