import { StrictMode, Suspense, lazy } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter, Link, Route, Routes } from 'react-router';

// The route a first tab has not visited yet: its chunk is fetched on the first client-side
// navigation to it, long after the page loaded.
const About = lazy(() => import('./pages/About.jsx'));

function Home() {
  return <h1 id="home">Home</h1>;
}

function App() {
  return (
    <BrowserRouter>
      <nav>
        <Link id="to-home" to="/">Home</Link> <Link id="to-about" to="/about">About</Link>
      </nav>
      <Suspense fallback={<p id="loading">loading</p>}>
        <Routes>
          <Route path="/" element={<Home />} />
          <Route path="/about" element={<About />} />
        </Routes>
      </Suspense>
    </BrowserRouter>
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
