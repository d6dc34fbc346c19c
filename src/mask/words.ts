/** Word lists for masked values: plainly fictional, ASCII, enough variety for realistic screens. */
export const FIRST_NAMES = [
  'Alice', 'Bruno', 'Camille', 'Denis', 'Elise', 'Fabien', 'Gaelle', 'Hugo', 'Ines', 'Jules', 'Karine', 'Louis', 'Manon', 'Nicolas', 'Oceane', 'Pierre',
  'Quentin', 'Rose', 'Samuel', 'Tania', 'Ulysse', 'Valerie', 'William', 'Xavier', 'Yasmine', 'Zoe', 'Adele', 'Basile', 'Chloe', 'Damien', 'Emma', 'Florian',
];
export const LAST_NAMES = [
  'Martin', 'Bernard', 'Dubois', 'Thomas', 'Robert', 'Richard', 'Petit', 'Durand', 'Leroy', 'Moreau', 'Simon', 'Laurent', 'Lefebvre', 'Michel', 'Garcia', 'David',
  'Bertrand', 'Roux', 'Vincent', 'Fournier', 'Morel', 'Girard', 'Andre', 'Mercier', 'Dupont', 'Lambert', 'Bonnet', 'Francois', 'Martinez', 'Legrand', 'Garnier', 'Faure',
];
export const STREETS = ['des Lilas', 'de la Gare', 'Victor Hugo', 'du Moulin', 'des Ecoles', 'de la Paix', 'Pasteur', 'des Vignes', 'du Port', 'Jean Jaures', 'des Tilleuls', 'du Marche'];
export const STREET_TYPES = ['rue', 'avenue', 'boulevard', 'chemin', 'place', 'impasse', 'allee', 'quai'];
export const CITIES = ['Lyon', 'Nantes', 'Lille', 'Rennes', 'Dijon', 'Tours', 'Brest', 'Nancy', 'Metz', 'Reims', 'Angers', 'Caen'];
export const LOREM = [
  'lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit', 'sed', 'do', 'eiusmod', 'tempor', 'incididunt', 'ut', 'labore', 'et',
  'dolore', 'magna', 'aliqua', 'enim', 'ad', 'minim', 'veniam', 'quis', 'nostrud', 'exercitation', 'ullamco', 'laboris', 'nisi', 'aliquip', 'ex', 'ea',
];
