/* Maillage – runs before the first paint: tells the stylesheet that JavaScript is on (collapsed menu). */
document.documentElement.classList.add("js");
