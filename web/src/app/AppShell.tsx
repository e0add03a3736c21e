import { useEffect, useRef, type ReactNode } from 'react';
import { useAuth, useSession } from '../auth/AuthProvider.js';
import { roleLabel } from '../auth/roles.js';
import { ConnectionBadge } from '../realtime/ConnectionBadge.js';
import { Link, useRouter } from '../routing/Router.js';
import { Avatar } from '../ui/Avatar.js';
import { signOutQuestion, unsavedWork } from './unsavedWork.js';

/** The signed-in frame: top bar with the connection badge, the user and sign-out; the page below. */
export function AppShell({ children }: { children: ReactNode }) {
  const { user } = useSession();
  const { signOut } = useAuth();
  const { location, navigate } = useRouter();
  const mainRef = useRef<HTMLElement>(null);
  const firstRender = useRef(true);

  // After an in-app navigation, move focus to the new page as a full page load would.
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    mainRef.current?.focus();
  }, [location.pathname]);

  const onSignOut = () => {
    // Signing out drops the socket and with it the lock: unsaved text would be gone for good.
    const question = signOutQuestion(unsavedWork());
    if (question && !window.confirm(question)) return;
    signOut();
    navigate('/login', { replace: true });
  };

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link className="brand" to="/projects">
          <span className="brand-mark" aria-hidden="true">
            ◆
          </span>{' '}
          Siteflow<span className="brand-suffix"> Collab</span>
        </Link>
        <div className="topbar-end">
          <ConnectionBadge />
          <span className="topbar-user">
            <Avatar userId={user.id} name={user.username} size="sm" />
            <span className="topbar-username">{user.username}</span>
            <span className={`role-tag role-${user.role}`}>{roleLabel[user.role]}</span>
          </span>
          <button type="button" className="button button-quiet" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" ref={mainRef} tabIndex={-1} className="shell-main">
        {children}
      </main>
    </div>
  );
}
