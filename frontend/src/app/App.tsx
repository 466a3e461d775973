import type { ReactNode } from "react";
import { Link, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { useAuth } from "./auth";
import { usePageHeading } from "./pageHeading";
import { Layout } from "../components/Layout";
import { DeveloperSettingsPage } from "../pages/DeveloperSettingsPage";
import { LoginPage } from "../pages/LoginPage";
import { ProfilePage } from "../pages/ProfilePage";
import { ProjectsPage } from "../pages/ProjectsPage";
import { SessionsPage } from "../pages/SessionsPage";

/** Signed-in pages: while the session is being checked, wait; without one, go to /login. */
function RequireAuth({ children }: { children: ReactNode }) {
  const { status, reason } = useAuth();
  const location = useLocation();
  if (status === "loading") {
    return (
      <p className="loading" role="status" aria-label="Loading">
        Loading…
      </p>
    );
  }
  if (status === "signed-out") {
    // Back to where the user was after signing in, unless they chose to leave.
    const here = location.pathname + location.search + location.hash;
    const from = location.pathname === "/" || reason === "logged_out" ? undefined : here;
    return <Navigate to="/login" replace state={from ? { from } : null} />;
  }
  return children;
}

/** Where the app is mounted: the page heading is looked for there. */
const appRoot = () => document.getElementById("root") ?? document.body;

/** An address inside the signed-in app that matches no page; its heading gives the title "Page not found". */
function NotFound() {
  return (
    <>
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. <Link to="/projects">Go to your projects</Link>.
      </p>
    </>
  );
}

export function App() {
  const location = useLocation();
  // Title from the page's h1 everywhere; focus to it after a route change, except on the login page, whose
  // email field has focus (autofocus) for the person who came to type.
  usePageHeading(appRoot, { focus: location.pathname !== "/login" });
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route
        element={
          <RequireAuth>
            <Layout />
          </RequireAuth>
        }
      >
        <Route index element={<Navigate to="/projects" replace />} />
        <Route path="/projects" element={<ProjectsPage />} />
        <Route path="/profile" element={<ProfilePage />} />
        <Route path="/profile/developer-settings" element={<DeveloperSettingsPage />} />
        <Route path="/sessions" element={<SessionsPage />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}
