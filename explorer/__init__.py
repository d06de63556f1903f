"""The Streamlit app (`streamlit run app.py`), built on the `autoencoder` library.

Data flow: the library decodes an image (autoencoder.data) and runs a model on it
(autoencoder.pipeline.analyse, scored by autoencoder.metrics); here `report` turns an analysis
into words and numbers without drawing, `views` and `figures` into pictures, `state` keeps
what was computed (one cache layer over the shared `results` store), `widgets` and `tabs/`
lay it out, and `page.main` is the page. Only this package imports Streamlit.
"""
