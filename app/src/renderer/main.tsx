import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { connect, MissingSecretError, type Connection } from './api/connect.js';
import { App } from './components/app.js';
import './styles.css';

const root = createRoot(document.getElementById('root')!);
let connection: Connection | undefined;
let problem = '';
try {
  connection = connect();
} catch (err) {
  problem = err instanceof MissingSecretError ? err.message : 'Could not reach the Tether host.';
}

root.render(
  <StrictMode>
    {connection ? (
      <App connection={connection} />
    ) : (
      <main className="centered">
        <div className="card narrow">
          <h1>Tether</h1>
          <p role="alert">{problem}</p>
        </div>
      </main>
    )}
  </StrictMode>,
);
