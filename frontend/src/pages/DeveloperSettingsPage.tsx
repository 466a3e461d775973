/** Developer Settings (`/profile/developer-settings`): personal access tokens and, for developers, the client secret. */
import { Link } from "react-router-dom";
import { useAuth, useUser } from "../app/auth";
import { api } from "../app/latchkey";
import { useResource } from "../app/useResource";
import { ClientSecretSection } from "../developer/ClientSecretSection";
import { PersonalAccessTokens } from "../developer/PersonalAccessTokens";
import "../developer/developer.css";

export function DeveloperSettingsPage() {
  const user = useUser();
  const { epoch } = useAuth();
  // The scopes the user's role allows (the token form offers exactly those), and the live developer flag.
  const { data: me, error } = useResource(api.getMe, epoch);

  return (
    <>
      <div className="page-header">
        <div>
          <h1>Developer Settings</h1>
          <p className="muted">
            Credentials for your scripts and servers. <Link to="/profile">Back to My Profile</Link>
          </p>
        </div>
      </div>
      <PersonalAccessTokens available={me?.scopes ?? null} unavailable={me === null && error !== null} />
      {(me ?? user).is_developer && <ClientSecretSection />}
    </>
  );
}
