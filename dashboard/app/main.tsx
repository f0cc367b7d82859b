/**
 * The Settle dashboard: a Preact app over the dashboard server's JSON routes (/dashboard/api), with hash routes.
 * Built by dashboard/build.ts (esbuild); served by dashboard/routes.ts at `/` of `settle dev` and `settle dashboard`.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './app.css';
import { deadLettersHref, machinesHref, parseRoute, type Route } from './route.ts';
import { DeadLettersView } from './views/dead-letters.tsx';
import { InstancePage } from './views/instance.tsx';
import { MachineView } from './views/machine.tsx';
import { MachinesView } from './views/machines.tsx';

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

function titleOf(route: Route): string {
  switch (route.name) {
    case 'machines':
      return 'Machines';
    case 'machine':
      return route.machine;
    case 'instance':
      return `${route.machine}/${route.id}`;
    case 'dead-letters':
      return 'Dead letters';
    default:
      return 'Not found';
  }
}

function Page({ route }: { readonly route: Route }) {
  switch (route.name) {
    case 'machines':
      return <MachinesView />;
    case 'machine':
      return <MachineView key={route.machine} machine={route.machine} filters={route.filters} />;
    case 'instance':
      return <InstancePage key={`${route.machine}/${route.id}`} machine={route.machine} id={route.id} />;
    case 'dead-letters':
      return <DeadLettersView />;
    default:
      return (
        <>
          <h1>Not found</h1>
          <p>
            Nothing is at <code>#{route.hash}</code>. <a href={machinesHref}>See the machines.</a>
          </p>
        </>
      );
  }
}

function App() {
  const route = useRoute();
  useEffect(() => {
    document.title = `${titleOf(route)} · Settle`;
    // A new page starts at its top, and its heading is read out.
    window.scrollTo(0, 0);
  }, [route.name, route.name === 'machine' || route.name === 'instance' ? route.machine : '', route.name === 'instance' ? route.id : '']);
  const current = (name: Route['name'] | 'machine-or-instance') =>
    name === route.name || (name === 'machine-or-instance' && (route.name === 'machine' || route.name === 'instance')) ? 'page' : undefined;
  return (
    <>
      {/* A button, not a link: the hash is the route. */}
      <button type="button" class="skip" onClick={() => document.getElementById('main')?.focus()}>
        Skip to the content
      </button>
      <header class="top">
        <a class="brand" href={machinesHref}>
          Settle
        </a>
        <nav aria-label="Dashboard">
          <a href={machinesHref} aria-current={current('machines')}>
            Machines
          </a>
          <a href={deadLettersHref} aria-current={current('dead-letters')}>
            Dead letters
          </a>
        </nav>
        <span class="live muted small" title="Every view reloads its data every 2 seconds">
          live
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
