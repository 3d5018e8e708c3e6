"""Using a trained model: `got.load(path)` and its chat / chat_crop / chat_pages / ocr calls (api.py), the inputs
it reads (images, PDF pages), and formatted outputs rendered to one offline HTML page (html.py)."""
