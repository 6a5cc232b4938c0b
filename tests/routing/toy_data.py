"""Small hand-written example sets shared by the routing tests."""

TOY = {
    "sentiment": [
        "I loved this movie, the acting was wonderful",
        "terrible service, I will never come back",
        "what a fantastic product, highly recommended",
        "the food was bland and overpriced",
        "absolutely brilliant performance by the lead",
        "this book was boring and way too long",
    ],
    "sql": [
        "select all users older than 30 from the customers table",
        "count the orders per customer id",
        "join the invoices table with payments on invoice_id",
        "delete rows where status is inactive",
        "group sales by region and sum the revenue column",
        "update the price column for product 42",
    ],
    "weather": [
        "will it rain in Paris tomorrow",
        "what's the temperature in Berlin right now",
        "is there a storm warning for the coast this weekend",
        "how windy will it be this afternoon",
        "forecast for snow in Denver on Friday",
        "do I need an umbrella today",
    ],
}
