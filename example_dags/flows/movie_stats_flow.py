"""MovieStatsFlow: statistics over a small, inline movie catalogue.

The shape shows what the DAG compiler handles: typed Parameters, a static branch and its join,
and a foreach over genres whose body has two steps. Every step takes milliseconds.

    python movie_stats_flow.py run --genre=drama --min_votes=1000

../movie_stats_dag.py is generated from this file (docs/getting-started.md shows the command).
"""

from metaflow import FlowSpec, Parameter, retry, step, timeout

# title, year, genres, mean rating (0-5 stars), number of votes
CATALOGUE = [
    ("The Lighthouse Keeper", 1962, ["drama"], 4.1, 2300),
    ("Orbit of Ash", 1979, ["sci-fi", "thriller"], 3.9, 5400),
    ("Paper Moons", 1984, ["comedy", "romance"], 3.4, 880),
    ("Glass Harbour", 1991, ["drama", "romance"], 3.8, 4100),
    ("Night Shift at Kepler", 1997, ["sci-fi", "comedy"], 3.2, 1250),
    ("The Long Quiet", 2003, ["drama"], 4.4, 9100),
    ("Salt and Signal", 2008, ["thriller"], 3.6, 3000),
    ("Second Breakfast Club", 2012, ["comedy"], 2.9, 640),
    ("Tidal Lock", 2016, ["sci-fi", "drama"], 4.0, 7200),
    ("Under the Overpass", 2019, ["thriller", "drama"], 3.7, 2600),
    ("Small Hours", 2022, ["romance", "comedy"], 3.3, 1900),
    ("Hollow Crown Motel", 2023, ["thriller", "comedy"], 3.1, 1500),
]


class MovieStatsFlow(FlowSpec):
    """Rating statistics per decade and per genre for a small movie catalogue."""

    genre = Parameter("genre", default="all", help="Only this genre, or 'all'.")
    min_votes = Parameter("min_votes", default=1000, type=int, help="Ignore movies with fewer votes.")
    rating_scale = Parameter("rating_scale", default=10.0, type=float, help="Report ratings out of this.")
    include_classics = Parameter(
        "include_classics", default=True, type=bool, help="Keep movies released before 1980."
    )

    @step
    def start(self):
        """Filter the catalogue, then compute two independent summaries side by side."""
        self.movies = [
            {"title": title, "year": year, "genres": genres, "stars": stars, "votes": votes}
            for title, year, genres, stars, votes in CATALOGUE
            if votes >= self.min_votes and (self.include_classics or year >= 1980)
            and (self.genre == "all" or self.genre in genres)
        ]
        if not self.movies:
            raise ValueError(f"No movie matches genre={self.genre!r} and min_votes={self.min_votes}.")
        print(f"{len(self.movies)} of {len(CATALOGUE)} movies kept")
        self.next(self.overall, self.by_decade)

    @step
    def overall(self):
        """Branch 1: the vote-weighted rating of the whole selection."""
        votes = sum(movie["votes"] for movie in self.movies)
        stars = sum(movie["stars"] * movie["votes"] for movie in self.movies) / votes
        self.weighted_rating = round(stars / 5 * self.rating_scale, 2)
        self.total_votes = votes
        self.next(self.summarise)

    @step
    def by_decade(self):
        """Branch 2: how many selected movies each decade has."""
        counts = {}
        for movie in self.movies:
            decade = f"{movie['year'] // 10 * 10}s"
            counts[decade] = counts.get(decade, 0) + 1
        self.decade_counts = dict(sorted(counts.items()))
        self.next(self.summarise)

    @step
    def summarise(self, inputs):
        """Join the branches: each added its own artifacts, and `movies` is the same in both."""
        self.merge_artifacts(inputs)
        self.next(self.list_genres)

    @step
    def list_genres(self):
        """Fan out over the genres present in the selection, one task per genre."""
        self.genres = sorted({genre for movie in self.movies for genre in movie["genres"]})
        self.next(self.genre_stats, foreach="genres")

    @retry(times=2)
    @timeout(minutes=5)
    @step
    def genre_stats(self):
        """Foreach body, step 1: the movies and mean rating of one genre."""
        self.genre_name = self.input
        self.genre_movies = [movie for movie in self.movies if self.genre_name in movie["genres"]]
        mean_stars = sum(movie["stars"] for movie in self.genre_movies) / len(self.genre_movies)
        self.genre_rating = round(mean_stars / 5 * self.rating_scale, 2)
        self.next(self.genre_best)

    @step
    def genre_best(self):
        """Foreach body, step 2: the best-rated movie of that genre."""
        best = max(self.genre_movies, key=lambda movie: (movie["stars"], movie["votes"]))
        self.genre_row = {
            "genre": self.genre_name,
            "movies": len(self.genre_movies),
            "rating": self.genre_rating,
            "best": best["title"],
        }
        self.next(self.collect)

    @step
    def collect(self, inputs):
        """Join the foreach: one row per genre, best-rated genre first."""
        rows = [i.genre_row for i in inputs]
        self.genre_table = sorted(rows, key=lambda row: (-row["rating"], row["genre"]))
        self.merge_artifacts(inputs, exclude=["genre_name", "genre_movies", "genre_rating", "genre_row"])
        self.next(self.end)

    @step
    def end(self):
        """Keep a compact summary as the run's headline artifact."""
        self.summary = {
            "movies": len(self.movies),
            "weighted_rating": self.weighted_rating,
            "best_genre": self.genre_table[0]["genre"],
            "decades": len(self.decade_counts),
        }
        print("summary", self.summary)
        for row in self.genre_table:
            print(f"  {row['genre']:<10} {row['movies']:>2} movies  {row['rating']:>5}  best: {row['best']}")


if __name__ == "__main__":
    MovieStatsFlow()
