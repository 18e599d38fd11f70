export default function About() {
  return <h1 id="about">About, release {__RELEASE__}</h1>;
}
