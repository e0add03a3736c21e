import { useAuth } from '../auth/AuthProvider.js';
import { LoginPage } from '../auth/LoginPage.js';
import type { Session } from '../auth/session.js';
import { ProjectsPage } from '../projects/ProjectsPage.js';
import { SocketProvider } from '../realtime/SocketProvider.js';
import { PlanningRoomPage } from '../room/PlanningRoomPage.js';
import { Redirect, useRouter } from '../routing/Router.js';
import { ToastProvider } from '../ui/Toaster.js';
import { loginPath, planningPath, safeNextPath, type Route } from '../routing/routes.js';
import { AppShell } from './AppShell.js';
import { NotFoundPage } from './NotFoundPage.js';

/** Chooses the page for the URL. Every page but sign-in needs a session and shares one socket. */
export function App() {
  const { session } = useAuth();
  const { route, location } = useRouter();

  if (route.name === 'login') return session ? <Redirect to={safeNextPath(location.search)} /> : <LoginPage />;
  if (!session) return <Redirect to={loginPath(location.pathname + location.search)} />;

  return (
    <SocketProvider token={session.token}>
      <ToastProvider>
        <AppShell>{signedInPage(route, session)}</AppShell>
      </ToastProvider>
    </SocketProvider>
  );
}

function signedInPage(route: Exclude<Route, { name: 'login' }>, session: Session) {
  switch (route.name) {
    case 'home':
      return <Redirect to="/projects" />;
    case 'projects':
      return <ProjectsPage />;
    case 'planning':
      // The admin area is for admins; a customer following an admin link lands in their own area.
      if (route.area === 'admin' && session.user.role !== 'admin')
        return <Redirect to={planningPath(route.projectId, session.user.role)} />;
      return <PlanningRoomPage key={route.projectId} projectId={route.projectId} />;
    case 'not_found':
      return <NotFoundPage />;
    default: {
      const unhandled: never = route;
      return unhandled;
    }
  }
}
